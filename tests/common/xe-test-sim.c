/* xe-test-sim.c: xe-sim mounts for tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-sim.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xe-test-util.h"

#define READY_FD 3

gboolean
xe_test_fuse_available(void)
{
    g_autofree char *fusermount = g_find_program_in_path("fusermount3");

    return access("/dev/fuse", R_OK | W_OK) == 0 && fusermount != NULL &&
           g_getenv("XE_SIM") != NULL;
}

typedef struct {
    int ready_fd;
} ChildSetup;

static void
child_setup(gpointer user_data)
{
    ChildSetup *cs = user_data;

    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(cs->ready_fd, READY_FD);
}

XeTestSim *
xe_test_sim_start(const char *config_text)
{
    XeTestSim *sim = g_new0(XeTestSim, 1);
    g_autofree char *config = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    char ready[16] = { 0 };
    struct pollfd pfd;
    int pipefd[2];
    ChildSetup cs;
    ssize_t n;

    sim->root = xe_test_mkdtemp("xe-sim");
    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    g_ptr_array_add(argv, (char *)g_getenv("XE_SIM"));
    g_ptr_array_add(argv, (char *)"--ready-fd=3");
    if (config_text != NULL) {
        config = g_strdup_printf("%s.conf", sim->root);
        ck_assert(g_file_set_contents(config, config_text, -1, NULL));
        g_ptr_array_add(argv, (char *)"--config");
        g_ptr_array_add(argv, config);
    }
    g_ptr_array_add(argv, sim->root);
    g_ptr_array_add(argv, NULL);
    cs.ready_fd = pipefd[1];
    ck_assert_msg(g_spawn_async(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                child_setup, &cs, &sim->pid, &error),
                  "starting xe-sim: %s", error ? error->message : "");
    close(pipefd[1]);
    /* Wait for READY (or EOF: xe-sim failed), with a deadline. */
    pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
    ck_assert_msg(poll(&pfd, 1, 20000) == 1, "xe-sim did not get ready within 20 s");
    n = read(pipefd[0], ready, sizeof(ready) - 1);
    close(pipefd[0]);
    ck_assert_msg(n > 0 && g_str_has_prefix(ready, "READY"),
                  "xe-sim exited before mounting %s (see its stderr above)", sim->root);
    if (config != NULL)
        unlink(config);
    return sim;
}

void
xe_test_sim_stop(XeTestSim *sim)
{
    int status;

    if (sim == NULL)
        return;
    kill(sim->pid, SIGTERM);
    (void)waitpid(sim->pid, &status, 0);
    g_spawn_close_pid(sim->pid);
    rmdir(sim->root);
    g_free(sim->root);
    g_free(sim);
}

char *
xe_test_sim_path(XeTestSim *sim, const char *rel)
{
    return g_build_filename(sim->root, rel, NULL);
}

int
xe_test_sim_write_len(XeTestSim *sim, const char *rel, const char *value, gsize len)
{
    g_autofree char *path = xe_test_sim_path(sim, rel);
    int fd = open(path, O_WRONLY);
    ssize_t n;
    int err = 0;

    if (fd < 0)
        return errno;
    n = write(fd, value, len);
    if (n < 0)
        err = errno;
    close(fd);
    return err;
}

int
xe_test_sim_write(XeTestSim *sim, const char *rel, const char *value)
{
    return xe_test_sim_write_len(sim, rel, value, strlen(value));
}

char *
xe_test_sim_read(XeTestSim *sim, const char *rel, int *err)
{
    g_autofree char *path = xe_test_sim_path(sim, rel);
    GString *out = g_string_new(NULL);
    char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    *err = 0;
    if (fd < 0) {
        *err = errno;
        g_string_free(out, TRUE);
        return NULL;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        g_string_append_len(out, buf, n);
    if (n < 0)
        *err = errno;
    close(fd);
    if (*err != 0) {
        g_string_free(out, TRUE);
        return NULL;
    }
    return g_string_free(out, FALSE);
}

void
xe_test_sim_control(XeTestSim *sim, const char *file, const char *value)
{
    g_autofree char *rel = g_strdup_printf("sim/%s", file);
    int err = xe_test_sim_write(sim, rel, value);

    ck_assert_msg(err == 0, "sim/%s <- '%s': %s", file, value, g_strerror(err));
}

char *
xe_test_sim_take_audit(XeTestSim *sim)
{
    int err;
    char *audit = xe_test_sim_read(sim, "sim/audit", &err);

    ck_assert_msg(audit != NULL, "reading sim/audit: %s", g_strerror(err));
    xe_test_sim_control(sim, "audit", "clear");
    return audit;
}
