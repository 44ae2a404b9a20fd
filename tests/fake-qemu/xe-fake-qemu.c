/* xe-fake-qemu: a stateful stand-in for QEMU 10 migrating a VM that holds
 * an Xe VF, for what real QEMU cannot show without a VF: VFIO_MIGRATION
 * events, the "vfio" statistics of query-migrate, and the error texts of a
 * VFIO stream that a VF reset aborted.
 *
 * It takes the command line xe-migrated gives QEMU (-chardev socket,fd=N
 * with -mon, -S, -incoming defer, -m, -device vfio-pci,host=BDF; other
 * options are ignored) and speaks QMP on the monitor. Its VF is the
 * simulator's (XE_SIM_ROOT): it opens it (sim/opened), and moves its state
 * through sim/vfio/BDF/{state,data} exactly where QEMU's vfio migration code
 * would: stop_copy and a full read of the data at switchover on the source,
 * resuming and a full write on the destination. So a reset injected with
 * sim/flr_on_state fails the read or write with ENODEV, as the kernel does.
 *
 * The stream between two fake QEMUs is TCP: "RAM <n>\n" + n bytes per chunk,
 * "DEV <n>\n" + the VF's data, "END\n"; with return-path the destination
 * answers "OK\n" or "ERR <n>\n". What the source reports on each failure
 * follows qemu-qmp-migration.md section 2.6 (from QEMU 10.0's source).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

typedef struct {
    GMainLoop *loop;
    GMutex lock;
    /* configuration */
    guint64 ram_bytes;
    char *vf;       /* NULL without a VFIO device */
    char *sim_root; /* XE_SIM_ROOT */
    gboolean incoming_defer;
    gboolean start_paused;
    /* QMP */
    GSocketService *monitor;
    GDataInputStream *in;
    GOutputStream *out;
    gboolean negotiated;
    /* state (under lock) */
    char *runstate;
    char *status; /* MigrationStatus */
    char *error_desc;
    guint64 transferred, vfio_transferred, total_time_ms, downtime_ms;
    gint64 started, stopped;
    gboolean caps_return_path, caps_events;
    guint64 downtime_limit, max_bandwidth;
    char *listen_port;
    int stream_fd;
    gboolean cancel;
} Fake;

static Fake fake = { .ram_bytes = 128 * 1024 * 1024, .downtime_limit = 300, .stream_fd = -1 };

/* monitor output: main thread only */

static void
send_json(JsonNode *node)
{
    g_autofree char *text = json_to_string(node, FALSE);
    g_autofree char *line = g_strconcat(text, "\r\n", NULL);

    if (fake.out != NULL)
        (void)g_output_stream_write_all(fake.out, line, strlen(line), NULL, NULL, NULL);
}

typedef struct {
    char *name;
    JsonNode *data;
} Event;

static gboolean
emit_event_main(gpointer p)
{
    Event *e = p;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) node = NULL;
    gint64 now = g_get_real_time();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, e->name);
    json_builder_set_member_name(b, "data");
    json_builder_add_value(b, e->data != NULL ? e->data : json_from_string("{}", NULL));
    json_builder_set_member_name(b, "timestamp");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_int_value(b, now / G_USEC_PER_SEC);
    json_builder_set_member_name(b, "microseconds");
    json_builder_add_int_value(b, now % G_USEC_PER_SEC);
    json_builder_end_object(b);
    json_builder_end_object(b);
    node = json_builder_get_root(b);
    if (fake.negotiated)
        send_json(node);
    g_free(e->name);
    g_free(e);
    return G_SOURCE_REMOVE;
}

/* From any thread; events leave in the order emitted. */
static void
emit(const char *name, const char *data_json)
{
    Event *e = g_new0(Event, 1);

    e->name = g_strdup(name);
    e->data = data_json != NULL ? json_from_string(data_json, NULL) : NULL;
    g_main_context_invoke(NULL, emit_event_main, e);
}

static void
set_status(const char *status)
{
    g_autofree char *data = g_strdup_printf("{\"status\": \"%s\"}", status);

    g_mutex_lock(&fake.lock);
    g_free(fake.status);
    fake.status = g_strdup(status);
    g_mutex_unlock(&fake.lock);
    if (fake.caps_events)
        emit("MIGRATION", data);
}

static void
set_runstate(const char *state)
{
    g_mutex_lock(&fake.lock);
    g_free(fake.runstate);
    fake.runstate = g_strdup(state);
    g_mutex_unlock(&fake.lock);
}

/* the simulated VF */

static char *
sim_path(const char *rel)
{
    return g_strdup_printf("%s/sim/%s", fake.sim_root, rel);
}

static int
sim_write(const char *rel, const char *value)
{
    g_autofree char *path = sim_path(rel);
    int fd = open(path, O_WRONLY);
    ssize_t n;
    int e;

    if (fd < 0)
        return -errno;
    n = write(fd, value, strlen(value));
    e = errno;
    close(fd);
    return n < 0 ? -e : 0;
}

static const char *
vfio_event_name(const char *sim_state)
{
    return g_str_equal(sim_state, "stop_copy")     ? "stop-copy"
           : g_str_equal(sim_state, "running_p2p") ? "running-p2p"
                                                   : sim_state;
}

/* Sets the VF's migration state, as VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, and
 * announces it (migration-events=on). */
static int
vfio_set_state(const char *state)
{
    g_autofree char *rel = NULL;
    g_autofree char *data = NULL;
    int r;

    if (fake.vf == NULL)
        return 0;
    rel = g_strdup_printf("vfio/%s/state", fake.vf);
    r = sim_write(rel, state);
    if (r == 0) {
        data = g_strdup_printf("{\"device-id\": \"xe-vf\", \"qom-path\": "
                               "\"/machine/peripheral/xe-vf\", \"device-state\": \"%s\"}",
                               vfio_event_name(state));
        emit("VFIO_MIGRATION", data);
    }
    return r;
}

/* stream helpers (migration thread): plain blocking I/O on GSocket's fd */

static int
blocking(int fd)
{
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static gboolean
write_all(int fd, const void *buf, size_t len, int *err)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            return FALSE;
        }
        p += n;
        len -= (size_t)n;
    }
    return TRUE;
}

static gboolean
read_line(int fd, char *buf, size_t size, int *err)
{
    size_t i = 0;

    while (i + 1 < size) {
        ssize_t n = recv(fd, buf + i, 1, 0);

        if (n <= 0) {
            *err = n == 0 ? EIO : errno;
            return FALSE;
        }
        if (buf[i] == '\n') {
            buf[i] = '\0';
            return TRUE;
        }
        i++;
    }
    *err = EPROTO;
    return FALSE;
}

static gboolean
read_exact(int fd, char *buf, size_t len, int *err)
{
    while (len > 0) {
        ssize_t n = recv(fd, buf, len, 0);

        if (n <= 0) {
            *err = n == 0 ? EIO : errno;
            return FALSE;
        }
        buf += n;
        len -= (size_t)n;
    }
    return TRUE;
}

/* the source */

static void
source_failed(const char *error_desc, gboolean resume)
{
    g_mutex_lock(&fake.lock);
    g_free(fake.error_desc);
    fake.error_desc = g_strdup(error_desc);
    fake.total_time_ms = (guint64)(g_get_monotonic_time() - fake.started) / 1000;
    g_mutex_unlock(&fake.lock);
    /* QEMU puts a device it stopped back to running, and resumes the guest. */
    (void)vfio_set_state("running");
    set_status(fake.cancel ? "cancelled" : "failed");
    if (resume) {
        set_runstate("running");
        emit("RESUME", NULL);
    }
}

static gpointer
source_thread(gpointer data)
{
    g_autofree char *uri = data;
    g_auto(GStrv) parts = g_strsplit(uri + strlen("tcp:"), ":", -1);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *buf = g_malloc0(CHUNK);
    g_autoptr(GByteArray) dev = g_byte_array_new();
    guint64 sent = 0;
    gint64 window = g_get_monotonic_time();
    guint64 window_bytes = 0;
    char line[64];
    int fd, err = 0;

    set_status("setup");
    conn = g_socket_client_connect_to_host(client, uri + strlen("tcp:"), 0, NULL, &error);
    if (conn == NULL) {
        g_autofree char *desc =
            g_strdup_printf("Failed to connect to '%s:%s': %s", parts[0],
                            parts[1] != NULL ? parts[1] : "", "Connection refused");
        source_failed(desc, FALSE);
        return NULL;
    }
    fd = blocking(g_socket_get_fd(g_socket_connection_get_socket(conn)));
    g_mutex_lock(&fake.lock);
    fake.stream_fd = fd;
    g_mutex_unlock(&fake.lock);
    set_status("active");

    /* the live phase: RAM, paced by max-bandwidth */
    while (sent < fake.ram_bytes && !fake.cancel) {
        guint64 n = MIN((guint64)CHUNK, fake.ram_bytes - sent);
        int len = g_snprintf(line, sizeof(line), "RAM %" G_GUINT64_FORMAT "\n", n);

        if (!write_all(fd, line, (size_t)len, &err) || !write_all(fd, buf, n, &err))
            goto broken;
        sent += n;
        window_bytes += n;
        g_mutex_lock(&fake.lock);
        fake.transferred = sent;
        g_mutex_unlock(&fake.lock);
        if (fake.max_bandwidth > 0 && fake.max_bandwidth < G_MAXINT64) {
            gint64 due = window + (gint64)(window_bytes * G_USEC_PER_SEC / fake.max_bandwidth);
            gint64 now = g_get_monotonic_time();

            if (due > now)
                g_usleep((gulong)(due - now));
        }
    }
    if (fake.cancel)
        goto cancelled;

    /* switchover: the guest stops, the VF's state moves */
    g_mutex_lock(&fake.lock);
    fake.stopped = g_get_monotonic_time();
    g_mutex_unlock(&fake.lock);
    set_runstate("finish-migrate");
    emit("STOP", NULL);
    set_status("device");
    if (fake.vf != NULL) {
        g_autofree char *rel = g_strdup_printf("vfio/%s/data", fake.vf);
        g_autofree char *path = sim_path(rel);
        int r = vfio_set_state("stop_copy");
        int dfd;

        if (r < 0) {
            g_autofree char *desc = g_strdup_printf(
                "xe-vf: Failed setting device state to STOP_COPY. Recover state is ERROR. "
                "Resetting device: %s",
                g_strerror(-r));
            source_failed(desc, TRUE);
            return NULL;
        }
        dfd = open(path, O_RDONLY);
        for (;;) {
            static char tmp[1 << 20]; /* QEMU reads the device's data fd 1 MiB at a time */
            ssize_t n = dfd >= 0 ? read(dfd, tmp, sizeof(tmp)) : -1;

            if (n < 0) {
                int e = dfd >= 0 ? errno : ENODEV;
                g_autofree char *desc = g_strdup_printf("Channel error: %s", g_strerror(e));

                if (dfd >= 0)
                    close(dfd);
                /* the stream error carries no Error object: the generic text */
                source_failed(desc, TRUE);
                return NULL;
            }
            if (n == 0)
                break;
            g_byte_array_append(dev, (guint8 *)tmp, (guint)n);
        }
        close(dfd);
        {
            int len = g_snprintf(line, sizeof(line), "DEV %u\n", dev->len);

            if (!write_all(fd, line, (size_t)len, &err) ||
                !write_all(fd, dev->data, dev->len, &err))
                goto broken;
        }
        g_mutex_lock(&fake.lock);
        fake.vfio_transferred = dev->len;
        g_mutex_unlock(&fake.lock);
    }
    if (!write_all(fd, "END\n", 4, &err))
        goto broken;
    if (fake.caps_return_path) {
        if (!read_line(fd, line, sizeof(line), &err))
            goto broken;
        if (!g_str_equal(line, "OK")) {
            source_failed("Sibling indicated error 1", TRUE);
            return NULL;
        }
    }
    (void)vfio_set_state("stop");
    g_mutex_lock(&fake.lock);
    fake.downtime_ms = (guint64)(g_get_monotonic_time() - fake.stopped) / 1000;
    fake.total_time_ms = (guint64)(g_get_monotonic_time() - fake.started) / 1000;
    fake.stream_fd = -1;
    g_mutex_unlock(&fake.lock);
    set_runstate("postmigrate");
    set_status("completed");
    return NULL;

broken:
    if (fake.cancel)
        goto cancelled;
    {
        g_autofree char *desc = g_strdup_printf("Unable to write to socket: %s", g_strerror(err));
        gboolean stopped;

        g_mutex_lock(&fake.lock);
        stopped = fake.stopped != 0;
        fake.stream_fd = -1;
        g_mutex_unlock(&fake.lock);
        source_failed(desc, stopped);
    }
    return NULL;
cancelled:
    g_mutex_lock(&fake.lock);
    fake.stream_fd = -1;
    g_mutex_unlock(&fake.lock);
    set_status("cancelling");
    source_failed(NULL, fake.stopped != 0);
    return NULL;
}

/* the destination */

static void
destination_fail(const char *why)
{
    /* what QEMU prints before exit-on-error ends it */
    fprintf(stderr, "qemu-system-x86_64: %s\n", why);
    fflush(stderr);
    set_status("failed");
    g_mutex_lock(&fake.lock);
    if (fake.stream_fd >= 0 && fake.caps_return_path)
        (void)send(fake.stream_fd, "ERR 1\n", 6, MSG_NOSIGNAL);
    g_mutex_unlock(&fake.lock);
    if (fake.vf != NULL)
        (void)sim_write("opened", g_strdup_printf("%s 0", fake.vf));
    _exit(1);
}

static gpointer
destination_thread(gpointer data)
{
    GSocket *listener = data;
    g_autoptr(GSocket) s = g_socket_accept(listener, NULL, NULL);
    g_autofree char *buf = g_malloc0(CHUNK);
    char line[64];
    int fd, err = 0;

    g_object_unref(listener);
    if (s == NULL)
        destination_fail("load of migration failed: Input/output error");
    fd = blocking(g_socket_get_fd(s));
    g_mutex_lock(&fake.lock);
    fake.stream_fd = fd;
    fake.started = g_get_monotonic_time();
    g_mutex_unlock(&fake.lock);
    set_status("setup");
    set_status("active");
    for (;;) {
        guint64 n;

        if (!read_line(fd, line, sizeof(line), &err))
            destination_fail("load of migration failed: Input/output error");
        if (g_str_has_prefix(line, "RAM ")) {
            n = g_ascii_strtoull(line + 4, NULL, 10);
            if (n > CHUNK || !read_exact(fd, buf, n, &err))
                destination_fail("load of migration failed: Input/output error");
            g_mutex_lock(&fake.lock);
            fake.transferred += n;
            g_mutex_unlock(&fake.lock);
        } else if (g_str_has_prefix(line, "DEV ")) {
            g_autofree char *dev = NULL;
            g_autofree char *rel = NULL;
            g_autofree char *path = NULL;
            int r, dfd;

            n = g_ascii_strtoull(line + 4, NULL, 10);
            if (n > (guint64)8 << 30) /* a VF's whole state, VRAM included */
                destination_fail("load of migration failed: Invalid argument");
            dev = g_malloc(n + 1);
            if (!read_exact(fd, dev, n, &err))
                destination_fail("load of migration failed: Input/output error");
            if (fake.vf == NULL)
                destination_fail("Unknown savevm section or instance '0000:00:02.0/vfio' 0");
            r = vfio_set_state("resuming");
            rel = g_strdup_printf("vfio/%s/data", fake.vf);
            path = sim_path(rel);
            dfd = r == 0 ? open(path, O_WRONLY) : -1;
            /* in buffers of up to 1 MiB, as QEMU's vfio_load_buffer() writes */
            for (guint64 off = 0; r == 0 && dfd >= 0 && off < n;) {
                ssize_t w = write(dfd, dev + off, MIN(n - off, (guint64)1 << 20));

                if (w <= 0) {
                    r = w < 0 ? -errno : -EIO;
                    break;
                }
                off += (guint64)w;
            }
            if (r < 0 || dfd < 0) {
                int e = r < 0 ? -r : ENODEV;

                if (dfd >= 0)
                    close(dfd);
                fprintf(stderr, "qemu-system-x86_64: error while loading state section id 2"
                                "(0000:00:02.0/vfio)\n");
                destination_fail(g_strdup_printf("load of migration failed: %s", g_strerror(e)));
            }
            close(dfd);
            r = vfio_set_state("stop");
            if (r < 0)
                destination_fail(g_strdup_printf("load of migration failed: %s", g_strerror(-r)));
            g_mutex_lock(&fake.lock);
            fake.vfio_transferred = n;
            g_mutex_unlock(&fake.lock);
        } else if (g_str_equal(line, "END")) {
            break;
        } else {
            destination_fail("load of migration failed: Invalid argument");
        }
    }
    if (fake.caps_return_path)
        (void)write_all(fd, "OK\n", 3, &err);
    g_mutex_lock(&fake.lock);
    fake.stream_fd = -1;
    g_mutex_unlock(&fake.lock);
    set_runstate(fake.start_paused ? "paused" : "running");
    set_status("completed");
    if (!fake.start_paused) {
        (void)vfio_set_state("running");
        emit("RESUME", NULL);
    }
    return NULL;
}

/* QMP commands */

static JsonNode *
error_reply(const char *klass, const char *desc)
{
    g_autofree char *text = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, klass);
    json_builder_set_member_name(b, "desc");
    json_builder_add_string_value(b, desc);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *
query_migrate(void)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_mutex_lock(&fake.lock);
    json_builder_begin_object(b);
    if (fake.status != NULL) {
        gboolean done = g_str_equal(fake.status, "completed");

        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, fake.status);
        json_builder_set_member_name(b, "total-time");
        json_builder_add_int_value(
            b, (gint64)(done || fake.total_time_ms > 0
                            ? fake.total_time_ms
                            : (guint64)(g_get_monotonic_time() - fake.started) / 1000));
        if (done) {
            json_builder_set_member_name(b, "downtime");
            json_builder_add_int_value(b, (gint64)fake.downtime_ms);
        } else {
            json_builder_set_member_name(b, "expected-downtime");
            json_builder_add_int_value(b, (gint64)fake.downtime_limit);
        }
        json_builder_set_member_name(b, "ram");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "transferred");
        json_builder_add_int_value(b, (gint64)fake.transferred);
        json_builder_set_member_name(b, "total");
        json_builder_add_int_value(b, (gint64)fake.ram_bytes);
        json_builder_set_member_name(b, "remaining");
        json_builder_add_int_value(
            b, (gint64)(fake.ram_bytes - MIN(fake.ram_bytes, fake.transferred)));
        json_builder_set_member_name(b, "mbps");
        {
            double secs = (g_get_monotonic_time() - fake.started) / 1e6;

            json_builder_add_double_value(b, secs > 0 ? fake.transferred * 8 / 1e6 / secs : 0);
        }
        json_builder_end_object(b);
        if (fake.vf != NULL) {
            json_builder_set_member_name(b, "vfio");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "transferred");
            json_builder_add_int_value(b, (gint64)fake.vfio_transferred);
            json_builder_end_object(b);
        }
        if (fake.error_desc != NULL) {
            json_builder_set_member_name(b, "error-desc");
            json_builder_add_string_value(b, fake.error_desc);
        }
    }
    if (fake.listen_port != NULL) {
        json_builder_set_member_name(b, "socket-address");
        json_builder_begin_array(b);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, "inet");
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, "0.0.0.0");
        json_builder_set_member_name(b, "port");
        json_builder_add_string_value(b, fake.listen_port);
        json_builder_end_object(b);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    g_mutex_unlock(&fake.lock);
    return json_builder_get_root(b);
}

static gboolean
migrating(void)
{
    gboolean busy;

    g_mutex_lock(&fake.lock);
    busy = fake.status != NULL && !g_str_equal(fake.status, "completed") &&
           !g_str_equal(fake.status, "failed") && !g_str_equal(fake.status, "cancelled");
    g_mutex_unlock(&fake.lock);
    return busy;
}

static JsonNode *
execute(const char *cmd, JsonObject *args, gboolean *is_error, gboolean *quit)
{
    *is_error = FALSE;
    if (g_str_equal(cmd, "query-version"))
        return json_from_string("{\"qemu\": {\"major\": 10, \"minor\": 0, \"micro\": 2}, "
                                "\"package\": \"xe-fake-qemu\"}",
                                NULL);
    if (g_str_equal(cmd, "query-status")) {
        g_autofree char *text = NULL;

        g_mutex_lock(&fake.lock);
        text = g_strdup_printf("{\"running\": %s, \"status\": \"%s\"}",
                               g_str_equal(fake.runstate, "running") ? "true" : "false",
                               fake.runstate);
        g_mutex_unlock(&fake.lock);
        return json_from_string(text, NULL);
    }
    if (g_str_equal(cmd, "query-migrate"))
        return query_migrate();
    if (g_str_equal(cmd, "query-memory-size-summary")) {
        g_autofree char *text = g_strdup_printf(
            "{\"base-memory\": %" G_GUINT64_FORMAT ", \"plugged-memory\": 0}", fake.ram_bytes);

        return json_from_string(text, NULL);
    }
    if (g_str_equal(cmd, "qom-list"))
        return json_from_string("[{\"name\": \"type\", \"type\": \"string\"}]", NULL);
    if (g_str_equal(cmd, "query-migrate-capabilities"))
        return json_from_string("[{\"capability\": \"events\", \"state\": false}, "
                                "{\"capability\": \"return-path\", \"state\": false}, "
                                "{\"capability\": \"switchover-ack\", \"state\": false}, "
                                "{\"capability\": \"multifd\", \"state\": false}, "
                                "{\"capability\": \"auto-converge\", \"state\": false}, "
                                "{\"capability\": \"postcopy-ram\", \"state\": false}]",
                                NULL);
    if (g_str_equal(cmd, "query-migrate-parameters")) {
        g_autofree char *text = g_strdup_printf(
            "{\"downtime-limit\": %" G_GUINT64_FORMAT ", \"max-bandwidth\": %" G_GUINT64_FORMAT
            ", \"avail-switchover-bandwidth\": 0, \"multifd-channels\": 2}",
            fake.downtime_limit, fake.max_bandwidth);

        return json_from_string(text, NULL);
    }
    if (g_str_equal(cmd, "migrate-set-capabilities")) {
        JsonNode *list = json_object_get_member(args, "capabilities");
        JsonArray *caps =
            list != NULL && JSON_NODE_HOLDS_ARRAY(list) ? json_node_get_array(list) : NULL;

        if (migrating())
            goto in_progress;
        for (guint i = 0; caps != NULL && i < json_array_get_length(caps); i++) {
            JsonObject *c = json_array_get_object_element(caps, i);
            const char *name = json_object_get_string_member(c, "capability");
            gboolean state = json_object_get_boolean_member(c, "state");

            if (g_str_equal(name, "return-path"))
                fake.caps_return_path = state;
            else if (g_str_equal(name, "events"))
                fake.caps_events = state;
        }
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "migrate-set-parameters")) {
        if (json_object_has_member(args, "downtime-limit"))
            fake.downtime_limit = (guint64)json_object_get_int_member(args, "downtime-limit");
        if (json_object_has_member(args, "max-bandwidth"))
            fake.max_bandwidth = (guint64)json_object_get_int_member(args, "max-bandwidth");
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "migrate")) {
        const char *uri = json_object_get_string_member_with_default(args, "uri", NULL);

        if (uri == NULL || !g_str_has_prefix(uri, "tcp:")) {
            *is_error = TRUE;
            return error_reply("GenericError", "xe-fake-qemu migrates to tcp: URIs only");
        }
        if (migrating())
            goto in_progress;
        g_mutex_lock(&fake.lock);
        if (g_str_equal(fake.runstate, "postmigrate")) {
            g_mutex_unlock(&fake.lock);
            *is_error = TRUE;
            return error_reply("GenericError",
                               "Can't migrate the vm that was paused due to previous migration");
        }
        g_clear_pointer(&fake.error_desc, g_free);
        fake.transferred = fake.vfio_transferred = fake.total_time_ms = fake.downtime_ms = 0;
        fake.started = g_get_monotonic_time();
        fake.stopped = 0;
        fake.cancel = FALSE;
        g_mutex_unlock(&fake.lock);
        g_thread_unref(g_thread_new("migration", source_thread, g_strdup(uri)));
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "migrate-incoming")) {
        const char *uri = json_object_get_string_member_with_default(args, "uri", NULL);
        g_autoptr(GSocket) listener = NULL;
        g_autoptr(GInetSocketAddress) addr = NULL;
        g_autoptr(GSocketAddress) bound = NULL;
        g_auto(GStrv) parts = NULL;
        g_autoptr(GError) error = NULL;

        if (!fake.incoming_defer || fake.listen_port != NULL) {
            *is_error = TRUE;
            return error_reply("GenericError", "The incoming migration has already been started");
        }
        if (uri == NULL || !g_str_has_prefix(uri, "tcp:")) {
            *is_error = TRUE;
            return error_reply("GenericError", "xe-fake-qemu listens on tcp: URIs only");
        }
        parts = g_strsplit(uri + 4, ":", 2);
        addr = G_INET_SOCKET_ADDRESS(g_inet_socket_address_new_from_string(
            parts[0], parts[1] != NULL ? (guint)atoi(parts[1]) : 0));
        listener =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
        if (addr == NULL || listener == NULL ||
            !g_socket_bind(listener, G_SOCKET_ADDRESS(addr), TRUE, &error) ||
            !g_socket_listen(listener, &error)) {
            *is_error = TRUE;
            return error_reply("GenericError", error != NULL ? error->message : "bad address");
        }
        bound = g_socket_get_local_address(listener, NULL);
        fake.listen_port =
            g_strdup_printf("%u", g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
        g_thread_unref(g_thread_new("incoming", destination_thread, g_steal_pointer(&listener)));
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "migrate_cancel")) {
        g_mutex_lock(&fake.lock);
        fake.cancel = TRUE;
        if (fake.stream_fd >= 0)
            shutdown(fake.stream_fd, SHUT_RDWR);
        g_mutex_unlock(&fake.lock);
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "cont")) {
        g_mutex_lock(&fake.lock);
        if (g_str_equal(fake.runstate, "inmigrate")) {
            g_mutex_unlock(&fake.lock);
            *is_error = TRUE;
            return error_reply("GenericError", "Migration is not finalized yet");
        }
        g_mutex_unlock(&fake.lock);
        (void)vfio_set_state("running");
        set_runstate("running");
        emit("RESUME", NULL);
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "stop")) {
        set_runstate("paused");
        emit("STOP", NULL);
        return json_from_string("{}", NULL);
    }
    if (g_str_equal(cmd, "quit")) {
        *quit = TRUE;
        return json_from_string("{}", NULL);
    }
    *is_error = TRUE;
    {
        g_autofree char *desc = g_strdup_printf("The command %s has not been found", cmd);

        return error_reply("CommandNotFound", desc);
    }
in_progress:
    *is_error = TRUE;
    return error_reply("GenericError", "There's a migration process in progress");
}

static void read_next(void);

static void
line_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    g_autofree char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source),
                                                                      result, &len, &error);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) reply = NULL;
    JsonObject *obj;
    JsonNode *id;
    const char *cmd;
    gboolean is_error = FALSE, quit = FALSE;
    JsonNode *value;

    if (line == NULL) { /* the client left: wait for the next one */
        g_clear_object(&fake.in);
        g_clear_object(&fake.out);
        fake.negotiated = FALSE;
        return;
    }
    g_strstrip(line);
    if (*line == '\0' || !json_parser_load_from_data(parser, line, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        read_next();
        return;
    }
    obj = json_node_get_object(json_parser_get_root(parser));
    cmd = json_object_get_string_member_with_default(obj, "execute", "");
    id = json_object_get_member(obj, "id");
    if (g_str_equal(cmd, "qmp_capabilities")) {
        fake.negotiated = TRUE;
        value = json_from_string("{}", NULL);
    } else if (!fake.negotiated) {
        is_error = TRUE;
        value = error_reply("CommandNotFound", "Expecting capabilities negotiation with "
                                               "'qmp_capabilities'");
    } else {
        JsonNode *a = json_object_get_member(obj, "arguments");
        JsonObject *args = a != NULL && JSON_NODE_HOLDS_OBJECT(a) ? json_node_get_object(a) : NULL;
        g_autoptr(JsonObject) empty = json_object_new();

        value = execute(cmd, args != NULL ? args : empty, &is_error, &quit);
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, is_error ? "error" : "return");
    json_builder_add_value(b, value);
    if (id != NULL) {
        json_builder_set_member_name(b, "id");
        json_builder_add_value(b, json_node_copy(id));
    }
    json_builder_end_object(b);
    reply = json_builder_get_root(b);
    send_json(reply);
    if (quit) {
        emit("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
        g_main_loop_quit(fake.loop);
        return;
    }
    read_next();
}

static void
read_next(void)
{
    if (fake.in != NULL)
        g_data_input_stream_read_line_async(fake.in, G_PRIORITY_DEFAULT, NULL, line_read, NULL);
}

static gboolean
on_incoming_client(GSocketService *service, GSocketConnection *conn, GObject *source,
                   gpointer user_data)
{
    const char *greeting = "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10, \"minor\": 0, "
                           "\"micro\": 2}, \"package\": \"xe-fake-qemu\"}, "
                           "\"capabilities\": []}}\r\n";

    if (fake.in != NULL)
        return FALSE; /* one client at a time, as QEMU's monitor */
    g_object_set_data_full(G_OBJECT(service), "conn", g_object_ref(conn), g_object_unref);
    fake.in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    g_data_input_stream_set_newline_type(fake.in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
    fake.out = g_object_ref(g_io_stream_get_output_stream(G_IO_STREAM(conn)));
    (void)g_output_stream_write_all(fake.out, greeting, strlen(greeting), NULL, NULL, NULL);
    read_next();
    return TRUE;
}

static guint64
parse_memory(const char *text)
{
    char *end = NULL;
    guint64 v = g_ascii_strtoull(text, &end, 10);

    if (end != NULL && (*end == 'G' || *end == 'g'))
        return v << 30;
    if (end != NULL && (*end == 'K' || *end == 'k'))
        return v << 10;
    return v << 20; /* QEMU's default unit is MiB */
}

int
main(int argc, char **argv)
{
    g_autoptr(GSocket) monitor = NULL;
    g_autoptr(GError) error = NULL;
    int monitor_fd = -1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";

        if (g_str_equal(a, "-chardev")) {
            const char *fd = strstr(v, "fd=");

            if (fd != NULL)
                monitor_fd = atoi(fd + 3);
            i++;
        } else if (g_str_equal(a, "-incoming")) {
            fake.incoming_defer = g_str_equal(v, "defer");
            i++;
        } else if (g_str_equal(a, "-S")) {
            fake.start_paused = TRUE;
        } else if (g_str_equal(a, "-m")) {
            fake.ram_bytes = parse_memory(v);
            i++;
        } else if (g_str_equal(a, "-device")) {
            const char *host = strstr(v, "host=");

            if (g_str_has_prefix(v, "vfio-pci") && host != NULL) {
                const char *end = strchr(host, ',');

                fake.vf =
                    end != NULL ? g_strndup(host + 5, (gsize)(end - host - 5)) : g_strdup(host + 5);
            }
            i++;
        } else if (a[0] == '-' && i + 1 < argc && argv[i + 1][0] != '-') {
            i++; /* an option we do not model, and its value */
        }
    }
    if (monitor_fd < 0) {
        fprintf(stderr, "xe-fake-qemu: no -chardev socket,fd=N monitor\n");
        return 1;
    }
    fake.sim_root = g_strdup(g_getenv("XE_SIM_ROOT"));
    if (fake.vf != NULL) {
        g_autofree char *value = g_strdup_printf("%s 1", fake.vf);
        int r;

        if (fake.sim_root == NULL) {
            fprintf(stderr, "xe-fake-qemu: a vfio-pci device needs XE_SIM_ROOT\n");
            return 1;
        }
        r = sim_write("opened", value);
        if (r < 0) {
            fprintf(stderr, "qemu-system-x86_64: -device vfio-pci,host=%s: vfio %s: %s\n", fake.vf,
                    fake.vf, g_strerror(-r));
            return 1;
        }
    }
    fake.runstate = g_strdup(fake.incoming_defer ? "inmigrate"
                             : fake.start_paused ? "prelaunch"
                                                 : "running");
    fake.loop = g_main_loop_new(NULL, FALSE);
    monitor = g_socket_new_from_fd(monitor_fd, &error);
    fake.monitor = g_socket_service_new();
    if (monitor == NULL ||
        !g_socket_listener_add_socket(G_SOCKET_LISTENER(fake.monitor), monitor, NULL, &error)) {
        fprintf(stderr, "xe-fake-qemu: monitor fd %d: %s\n", monitor_fd, error->message);
        return 1;
    }
    g_signal_connect(fake.monitor, "incoming", G_CALLBACK(on_incoming_client), NULL);
    g_socket_service_start(fake.monitor);
    g_main_loop_run(fake.loop);
    if (fake.vf != NULL) {
        g_autofree char *value = g_strdup_printf("%s 0", fake.vf);

        (void)sim_write("opened", value);
    }
    return 0;
}
