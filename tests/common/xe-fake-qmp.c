/* xe-fake-qmp.c: the scripted fake QMP peer: one thread, blocking sockets,
 * a queue of steps, the standing answers, and a list of what went wrong.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-fake-qmp.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "xe-test-util.h"

#define IO_TIMEOUT_MS 10000

typedef enum {
    STEP_SEND,
    STEP_SEND_TRICKLE,
    STEP_EXPECT,
    STEP_REPLY_DEFERRED,
    STEP_FLOOD,
    STEP_ENDLESS_STRING,
    STEP_WAIT_EOF,
    STEP_CLOSE,
    STEP_RESET,
    STEP_STANDING,
    STEP_PAUSE,
    STEP_ACCEPT,
} StepKind;

typedef struct {
    StepKind kind;
    GBytes *data;   /* SEND, SEND_TRICKLE */
    char *command;  /* EXPECT, STANDING */
    JsonNode *args; /* EXPECT: NULL accepts anything */
    char *reply;    /* EXPECT (NULL: deferred), REPLY_DEFERRED, STANDING (NULL: removed) */
    guint slot;     /* REPLY_DEFERRED */
    char *name;     /* FLOOD */
    guint64 count;  /* FLOOD, ENDLESS_STRING, PAUSE (ms) */
} Step;

struct _XeFakeQmp {
    char *dir;
    char *path; /* unix only */
    char *address;
    int listen_fd;
    int conn_fd;
    int wake[2]; /* finish() writes here to stop the post-script watch */
    GThread *thread;
    GPtrArray *steps;
    guint played;
    GPtrArray *deferred_ids; /* JSON-encoded ids of deferred commands */
    GHashTable *standing;    /* command -> reply template, as the script played so far */
    GString *inbuf;
    GMutex lock;
    GString *failures; /* under lock */
    guint64 bytes_sent;
};

static void
step_free(Step *step)
{
    g_clear_pointer(&step->data, g_bytes_unref);
    g_free(step->command);
    g_clear_pointer(&step->args, json_node_unref);
    g_free(step->reply);
    g_free(step->name);
    g_free(step);
}

static char *
apostrophes(const char *json)
{
    char *out = g_strdup(json);

    g_strdelimit(out, "'", '"');
    return out;
}

static JsonNode *
parse_json(const char *json)
{
    g_autofree char *text = apostrophes(json);
    g_autoptr(GError) error = NULL;
    JsonNode *node = json_from_string(text, &error);

    g_assert_no_error(error);
    return node;
}

static void G_GNUC_PRINTF(2, 3) fake_fail(XeFakeQmp *fake, const char *fmt, ...)
{
    va_list ap;

    g_mutex_lock(&fake->lock);
    if (fake->failures->len > 0)
        g_string_append(fake->failures, "; ");
    va_start(ap, fmt);
    g_string_append_vprintf(fake->failures, fmt, ap);
    va_end(ap);
    g_mutex_unlock(&fake->lock);
}

XeFakeQmp *
xe_fake_qmp_new(gboolean tcp)
{
    XeFakeQmp *fake = g_new0(XeFakeQmp, 1);

    fake->steps = g_ptr_array_new_with_free_func((GDestroyNotify)step_free);
    fake->deferred_ids = g_ptr_array_new_with_free_func(g_free);
    fake->standing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    fake->inbuf = g_string_new(NULL);
    fake->failures = g_string_new(NULL);
    fake->conn_fd = -1;
    g_mutex_init(&fake->lock);
    g_assert(pipe(fake->wake) == 0);

    if (tcp) {
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sin);

        fake->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert(fake->listen_fd >= 0);
        g_assert(bind(fake->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
        g_assert(getsockname(fake->listen_fd, (struct sockaddr *)&sin, &len) == 0);
        fake->address = g_strdup_printf("tcp:127.0.0.1:%u", ntohs(sin.sin_port));
    } else {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        fake->dir = xe_test_mkdtemp("xe-fake-qmp");
        fake->path = g_build_filename(fake->dir, "qmp.sock", NULL);
        g_assert(strlen(fake->path) < sizeof(sun.sun_path));
        strcpy(sun.sun_path, fake->path);
        fake->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert(fake->listen_fd >= 0);
        g_assert(bind(fake->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
        fake->address = g_strdup_printf("unix:%s", fake->path);
    }
    g_assert(listen(fake->listen_fd, 4) == 0);
    return fake;
}

const char *
xe_fake_qmp_get_address(XeFakeQmp *fake)
{
    return fake->address;
}

const char *
xe_fake_qmp_get_path(XeFakeQmp *fake)
{
    return fake->path;
}

static Step *
add_step(XeFakeQmp *fake, StepKind kind)
{
    Step *step = g_new0(Step, 1);

    g_assert(fake->thread == NULL);
    step->kind = kind;
    g_ptr_array_add(fake->steps, step);
    return step;
}

void
xe_fake_qmp_send_bytes(XeFakeQmp *fake, const void *data, gsize len)
{
    add_step(fake, STEP_SEND)->data = g_bytes_new(data, len);
}

void
xe_fake_qmp_send(XeFakeQmp *fake, const char *raw)
{
    xe_fake_qmp_send_bytes(fake, raw, strlen(raw));
}

void
xe_fake_qmp_send_trickle(XeFakeQmp *fake, const char *raw)
{
    add_step(fake, STEP_SEND_TRICKLE)->data = g_bytes_new(raw, strlen(raw));
}

void
xe_fake_qmp_greeting(XeFakeQmp *fake)
{
    xe_fake_qmp_send(fake, XE_FAKE_QMP_GREETING);
}

void
xe_fake_qmp_negotiate(XeFakeQmp *fake)
{
    xe_fake_qmp_greeting(fake);
    xe_fake_qmp_expect(fake, "qmp_capabilities", "{}", "{}");
}

void
xe_fake_qmp_event(XeFakeQmp *fake, const char *name, const char *data_json)
{
    g_autofree char *data = data_json ? apostrophes(data_json) : NULL;
    g_autofree char *raw =
        g_strdup_printf("{\"event\": \"%s\", %s%s%s\"timestamp\": {\"seconds\": 1764000000, "
                        "\"microseconds\": 123456}}\r\n",
                        name, data ? "\"data\": " : "", data ? data : "", data ? ", " : "");

    xe_fake_qmp_send(fake, raw);
}

void
xe_fake_qmp_event_flood(XeFakeQmp *fake, const char *name, guint count)
{
    Step *step = add_step(fake, STEP_FLOOD);

    step->name = g_strdup(name);
    step->count = count;
}

void
xe_fake_qmp_send_endless_string(XeFakeQmp *fake, gsize size)
{
    add_step(fake, STEP_ENDLESS_STRING)->count = size;
}

void
xe_fake_qmp_expect_raw(XeFakeQmp *fake, const char *command, const char *args_json,
                       const char *reply_template)
{
    Step *step = add_step(fake, STEP_EXPECT);

    step->command = g_strdup(command);
    step->args = args_json ? parse_json(args_json) : NULL;
    step->reply = reply_template ? g_strdup(reply_template) : NULL;
}

void
xe_fake_qmp_expect(XeFakeQmp *fake, const char *command, const char *args_json,
                   const char *return_json)
{
    g_autofree char *ret = apostrophes(return_json);
    g_autofree char *reply = g_strdup_printf("{\"return\": %s, \"id\": %%ID%%}\r\n", ret);

    xe_fake_qmp_expect_raw(fake, command, args_json, reply);
}

void
xe_fake_qmp_expect_error(XeFakeQmp *fake, const char *command, const char *args_json,
                         const char *klass, const char *desc)
{
    g_autofree char *reply = g_strdup_printf(
        "{\"id\": %%ID%%, \"error\": {\"class\": \"%s\", \"desc\": \"%s\"}}\r\n", klass, desc);

    xe_fake_qmp_expect_raw(fake, command, args_json, reply);
}

void
xe_fake_qmp_expect_deferred(XeFakeQmp *fake, const char *command, const char *args_json)
{
    xe_fake_qmp_expect_raw(fake, command, args_json, NULL);
}

void
xe_fake_qmp_reply_deferred(XeFakeQmp *fake, guint slot, const char *reply_template)
{
    Step *step = add_step(fake, STEP_REPLY_DEFERRED);

    step->slot = slot;
    step->reply = g_strdup(reply_template);
}

void
xe_fake_qmp_standing(XeFakeQmp *fake, const char *command, const char *return_json)
{
    Step *step = add_step(fake, STEP_STANDING);

    step->command = g_strdup(command);
    if (return_json != NULL) {
        g_autofree char *ret = apostrophes(return_json);
        step->reply = g_strdup_printf("{\"return\": %s, \"id\": %%ID%%}\r\n", ret);
    }
}

void
xe_fake_qmp_pause(XeFakeQmp *fake, guint ms)
{
    add_step(fake, STEP_PAUSE)->count = ms;
}

void
xe_fake_qmp_accept(XeFakeQmp *fake)
{
    add_step(fake, STEP_ACCEPT);
}

void
xe_fake_qmp_wait_eof(XeFakeQmp *fake)
{
    add_step(fake, STEP_WAIT_EOF);
}

void
xe_fake_qmp_close(XeFakeQmp *fake)
{
    add_step(fake, STEP_CLOSE);
}

void
xe_fake_qmp_reset(XeFakeQmp *fake)
{
    add_step(fake, STEP_RESET);
}

/* the peer thread */

static gboolean
write_all(XeFakeQmp *fake, const void *data, gsize len)
{
    const guint8 *p = data;

    while (len > 0) {
        ssize_t n = send(fake->conn_fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        fake->bytes_sent += (guint64)n;
        p += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Waits until @fd is readable; FALSE on timeout. Once the script is played
 * (@wakeable), xe_fake_qmp_finish() ends the wait too; during the script each
 * step runs to its own timeout, so a step never loses a race with finish(). */
static gboolean
wait_readable(XeFakeQmp *fake, int fd, int timeout_ms, gboolean wakeable)
{
    struct pollfd fds[2] = { { .fd = fd, .events = POLLIN },
                             { .fd = fake->wake[0], .events = POLLIN } };
    int r;

    do
        r = poll(fds, wakeable ? 2 : 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && fds[1].revents == 0;
}

/* The monotonic time @ms from now. */
static gint64
deadline_in(guint64 ms)
{
    return g_get_monotonic_time() + (gint64)ms * 1000;
}

/* What is left until @deadline, for poll(); -1 (forever) for a deadline of -1. */
static int
remaining_ms(gint64 deadline)
{
    gint64 left;

    if (deadline < 0)
        return -1;
    left = deadline - g_get_monotonic_time();
    return left <= 0 ? 0 : (int)MIN((left + 999) / 1000, G_MAXINT);
}

typedef enum { LINE_OK, LINE_EOF, LINE_TIMEOUT } LineResult;

/* Reads one '\n'-terminated line from the client into *line, until @deadline
 * (monotonic; -1: none). */
static LineResult
read_line(XeFakeQmp *fake, gint64 deadline, gboolean wakeable, char **line)
{
    for (;;) {
        char *nl = memchr(fake->inbuf->str, '\n', fake->inbuf->len);
        char buf[4096];
        ssize_t n;

        if (nl != NULL) {
            gsize len = (gsize)(nl - fake->inbuf->str);
            *line = g_strndup(fake->inbuf->str, len);
            g_string_erase(fake->inbuf, 0, (gssize)len + 1);
            return LINE_OK;
        }
        if (!wait_readable(fake, fake->conn_fd, remaining_ms(deadline), wakeable))
            return LINE_TIMEOUT;
        n = recv(fake->conn_fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return LINE_EOF;
        g_string_append_len(fake->inbuf, buf, n);
    }
}

static char *
fill_template(const char *reply_template, const char *id_json)
{
    g_auto(GStrv) parts = g_strsplit(reply_template, "%ID%", -1);

    return g_strjoinv(id_json, parts);
}

typedef enum { NOT_STANDING, STANDING_ANSWERED, STANDING_UNWRITTEN } Standing;

/* Answers @line if it is a command with a standing answer (and an id), unless it is
 * @wanted, the command the current step expects. */
static Standing
answer_standing(XeFakeQmp *fake, const char *line, const char *wanted)
{
    g_autoptr(JsonNode) msg = json_from_string(line, NULL);
    g_autofree char *id_json = NULL;
    g_autofree char *reply = NULL;
    const char *execute, *reply_template;
    JsonObject *obj;

    if (msg == NULL || !JSON_NODE_HOLDS_OBJECT(msg))
        return NOT_STANDING;
    obj = json_node_get_object(msg);
    execute = json_object_get_string_member_with_default(obj, "execute", "");
    reply_template = g_hash_table_lookup(fake->standing, execute);
    if (reply_template == NULL || g_strcmp0(execute, wanted) == 0 ||
        !json_object_has_member(obj, "id"))
        return NOT_STANDING;
    id_json = json_to_string(json_object_get_member(obj, "id"), FALSE);
    reply = fill_template(reply_template, id_json);
    return write_all(fake, reply, strlen(reply)) ? STANDING_ANSWERED : STANDING_UNWRITTEN;
}

/* Reads the next line that is not a standing command (see answer_standing()),
 * answering those on the way. */
static LineResult
read_request(XeFakeQmp *fake, gint64 deadline, gboolean wakeable, const char *wanted, char **line)
{
    for (;;) {
        g_autofree char *got = NULL;
        LineResult r = read_line(fake, deadline, wakeable, &got);

        if (r != LINE_OK)
            return r;
        switch (answer_standing(fake, got, wanted)) {
        case NOT_STANDING:
            *line = g_steal_pointer(&got);
            return LINE_OK;
        case STANDING_ANSWERED:
            break;
        case STANDING_UNWRITTEN:
            return LINE_EOF; /* the client is gone */
        }
    }
}

/* Reads the next command and checks it against @step; FALSE ends the script. */
static gboolean
play_expect(XeFakeQmp *fake, Step *step)
{
    g_autofree char *line = NULL;
    g_autoptr(JsonNode) msg = NULL;
    g_autofree char *id_json = NULL;
    JsonObject *obj;
    JsonNode *args;
    const char *execute;

    switch (read_request(fake, deadline_in(IO_TIMEOUT_MS), FALSE, step->command, &line)) {
    case LINE_EOF:
        fake_fail(fake, "expected command '%s', but the client closed the connection",
                  step->command);
        return FALSE;
    case LINE_TIMEOUT:
        fake_fail(fake, "expected command '%s', got nothing", step->command);
        return FALSE;
    case LINE_OK:
        break;
    }
    msg = json_from_string(line, NULL);
    if (msg == NULL || !JSON_NODE_HOLDS_OBJECT(msg)) {
        fake_fail(fake, "expected command '%s', got unparsable '%s'", step->command, line);
        return FALSE;
    }
    obj = json_node_get_object(msg);
    execute = json_object_get_string_member_with_default(obj, "execute", "");
    if (!json_object_has_member(obj, "id")) {
        fake_fail(fake, "command '%s' carries no id", execute);
        return FALSE;
    }
    id_json = json_to_string(json_object_get_member(obj, "id"), FALSE);
    if (!g_str_equal(execute, step->command)) {
        fake_fail(fake, "expected command '%s', got '%s'", step->command, line);
        return FALSE;
    }
    if (step->args != NULL) {
        g_autoptr(JsonNode) empty = json_node_init_object(json_node_alloc(), json_object_new());

        args = json_object_get_member(obj, "arguments");
        if (args == NULL)
            args = empty;
        if (!json_node_equal(args, step->args)) {
            g_autofree char *want = json_to_string(step->args, FALSE);
            g_autofree char *got = json_to_string(args, FALSE);
            fake_fail(fake, "command '%s': expected arguments %s, got %s", step->command, want,
                      got);
            return FALSE;
        }
    }
    if (step->reply == NULL) {
        g_ptr_array_add(fake->deferred_ids, g_steal_pointer(&id_json));
        return TRUE;
    } else {
        g_autofree char *reply = fill_template(step->reply, id_json);
        return write_all(fake, reply, strlen(reply));
    }
}

static void
play_flood(XeFakeQmp *fake, Step *step)
{
    g_autoptr(GString) batch = g_string_new(NULL);

    for (guint64 i = 0; i < step->count; i++) {
        g_string_append_printf(batch,
                               "{\"event\": \"%s\", \"data\": {\"pass\": %" G_GUINT64_FORMAT
                               "}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n",
                               step->name, i + 1);
        if (batch->len >= 256 * 1024 || i + 1 == step->count) {
            if (!write_all(fake, batch->str, batch->len))
                return;
            g_string_truncate(batch, 0);
        }
    }
}

static void
play_endless_string(XeFakeQmp *fake, Step *step)
{
    static const char head[] = "{\"return\": \"";
    gsize chunk = 1024 * 1024;
    g_autofree char *fill = g_malloc(chunk);

    memset(fill, 'a', chunk);
    if (!write_all(fake, head, strlen(head)))
        return;
    for (guint64 left = step->count; left > 0;) {
        gsize n = MIN(chunk, left);
        if (!write_all(fake, fill, n))
            return; /* the client hung up: what we wanted */
        left -= n;
    }
}

static void
play_wait_eof(XeFakeQmp *fake)
{
    g_autofree char *line = NULL;

    switch (read_request(fake, deadline_in(IO_TIMEOUT_MS), FALSE, NULL, &line)) {
    case LINE_EOF:
        return;
    case LINE_TIMEOUT:
        fake_fail(fake, "expected the client to close the connection; it did not");
        return;
    case LINE_OK:
        fake_fail(fake, "expected the client to close the connection, got '%s'", line);
        return;
    }
}

static void
close_conn(XeFakeQmp *fake, gboolean reset)
{
    if (fake->conn_fd < 0)
        return;
    if (reset) {
        struct linger lin = { .l_onoff = 1, .l_linger = 0 };
        (void)setsockopt(fake->conn_fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    }
    close(fake->conn_fd);
    fake->conn_fd = -1;
}

static void
play_standing(XeFakeQmp *fake, Step *step)
{
    if (step->reply != NULL)
        g_hash_table_insert(fake->standing, g_strdup(step->command), g_strdup(step->reply));
    else
        g_hash_table_remove(fake->standing, step->command);
}

/* FALSE ends the script. */
static gboolean
play_pause(XeFakeQmp *fake, Step *step)
{
    g_autofree char *line = NULL;

    if (fake->conn_fd < 0) {
        g_usleep(step->count * 1000);
        return TRUE;
    }
    switch (read_request(fake, deadline_in(step->count), FALSE, NULL, &line)) {
    case LINE_TIMEOUT:
        return TRUE; /* the pause is over */
    case LINE_EOF:
        return TRUE; /* the next step sees it */
    case LINE_OK:
        break;
    }
    fake_fail(fake, "unexpected command during a pause: %s", line);
    return FALSE;
}

/* Takes the client's connection: TRUE when it connected within IO_TIMEOUT_MS. Once the
 * script is played (@wakeable), xe_fake_qmp_finish() ends the wait too. */
static gboolean
accept_client(XeFakeQmp *fake, gboolean wakeable, const char *what)
{
    /* A connection made before finish() counts, even when finish() wins the race. */
    if (!wait_readable(fake, fake->listen_fd, IO_TIMEOUT_MS, wakeable) &&
        !wait_readable(fake, fake->listen_fd, 0, FALSE)) {
        fake_fail(fake, "the client never connected%s", what);
        return FALSE;
    }
    fake->conn_fd = accept4(fake->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fake->conn_fd < 0) {
        fake_fail(fake, "accept: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

static gpointer
fake_thread(gpointer user_data)
{
    XeFakeQmp *fake = user_data;
    gboolean ok = TRUE;

    if (!accept_client(fake, TRUE, ""))
        return NULL;

    for (; ok && fake->played < fake->steps->len; fake->played++) {
        Step *step = fake->steps->pdata[fake->played];
        gsize len;
        const guint8 *data;

        switch (step->kind) {
        case STEP_SEND:
            data = g_bytes_get_data(step->data, &len);
            ok = write_all(fake, data, len);
            if (!ok)
                fake_fail(fake, "the client stopped reading during step %u", fake->played + 1);
            break;
        case STEP_SEND_TRICKLE:
            data = g_bytes_get_data(step->data, &len);
            for (gsize i = 0; ok && i < len; i++)
                ok = write_all(fake, data + i, 1);
            break;
        case STEP_EXPECT:
            ok = play_expect(fake, step);
            break;
        case STEP_REPLY_DEFERRED:
            if (step->slot >= fake->deferred_ids->len) {
                fake_fail(fake, "no deferred command in slot %u", step->slot);
                ok = FALSE;
            } else {
                g_autofree char *reply =
                    fill_template(step->reply, fake->deferred_ids->pdata[step->slot]);
                ok = write_all(fake, reply, strlen(reply));
            }
            break;
        case STEP_FLOOD:
            play_flood(fake, step);
            break;
        case STEP_ENDLESS_STRING:
            play_endless_string(fake, step);
            break;
        case STEP_WAIT_EOF:
            play_wait_eof(fake);
            break;
        case STEP_CLOSE:
        case STEP_RESET:
            close_conn(fake, step->kind == STEP_RESET);
            break;
        case STEP_STANDING:
            play_standing(fake, step);
            break;
        case STEP_PAUSE:
            ok = play_pause(fake, step);
            break;
        case STEP_ACCEPT:
            close_conn(fake, FALSE);
            g_string_truncate(fake->inbuf, 0);
            ok = accept_client(fake, FALSE, " again");
            break;
        }
    }

    /* After the script: anything the client still sends is unexpected, but for standing
     * commands. */
    while (ok && fake->conn_fd >= 0) {
        g_autofree char *line = NULL;
        LineResult r = read_request(fake, -1, TRUE, NULL, &line);

        if (r == LINE_OK)
            fake_fail(fake, "unexpected command after the script: %s", line);
        else
            break; /* EOF, or finish() woke us */
    }
    close_conn(fake, FALSE);
    return NULL;
}

void
xe_fake_qmp_start(XeFakeQmp *fake)
{
    fake->thread = g_thread_new("fake-qmp", fake_thread, fake);
}

gboolean
xe_fake_qmp_finish(XeFakeQmp *fake, char **failure)
{
    if (fake->thread != NULL) {
        (void)!write(fake->wake[1], "x", 1);
        g_thread_join(fake->thread);
        fake->thread = NULL;
    }
    if (fake->played < fake->steps->len)
        fake_fail(fake, "script step %u of %u was never played", fake->played + 1,
                  fake->steps->len);
    if (fake->failures->len == 0)
        return TRUE;
    *failure = g_strdup(fake->failures->str);
    return FALSE;
}

guint64
xe_fake_qmp_get_bytes_sent(XeFakeQmp *fake)
{
    return fake->bytes_sent;
}

void
xe_fake_qmp_free(XeFakeQmp *fake)
{
    g_autofree char *ignored = NULL;

    if (fake == NULL)
        return;
    if (fake->thread != NULL)
        (void)xe_fake_qmp_finish(fake, &ignored);
    close_conn(fake, FALSE);
    close(fake->listen_fd);
    close(fake->wake[0]);
    close(fake->wake[1]);
    xe_test_rmtree(fake->dir);
    g_free(fake->dir);
    g_free(fake->path);
    g_free(fake->address);
    g_ptr_array_unref(fake->steps);
    g_ptr_array_unref(fake->deferred_ids);
    g_hash_table_unref(fake->standing);
    g_string_free(fake->inbuf, TRUE);
    g_string_free(fake->failures, TRUE);
    g_mutex_clear(&fake->lock);
    g_free(fake);
}
