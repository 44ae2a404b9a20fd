/* xe-fake-qmp.h: a scripted fake QMP peer, in the manner of libvirt's
 * tests/qemumonitortestutils.c.
 *
 * The test queues a script before connecting: things to send (greeting,
 * events, raw bytes) and commands to expect, each with the exact arguments
 * it must carry and the reply to serve. A thread with its own blocking socket
 * plays the script against the real client; any unexpected command, argument
 * mismatch, missing command or unused step fails the test at
 * xe_fake_qmp_finish(). Strings given as JSON may use ' for " (C-friendly).
 *
 * Standing answers loosen that for a client that polls: once a standing step
 * for a command is played, that command is answered whenever it comes while
 * the peer waits for something else (an expected command, EOF, a pause, or
 * the end), however often, and is not unexpected there.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _XeFakeQmp XeFakeQmp;

#define XE_FAKE_QMP_GREETING                                                           \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 0, \"major\": 10}, " \
    "\"package\": \"Debian 1:10.0.2+ds-2\"}, \"capabilities\": [\"oob\"]}}\r\n"

/* A peer listening on a fresh unix socket, or on 127.0.0.1 with @tcp. */
XeFakeQmp *xe_fake_qmp_new(gboolean tcp);
/* "unix:PATH" or "tcp:127.0.0.1:PORT", for xe_qmp_client_connect_async(). */
const char *xe_fake_qmp_get_address(XeFakeQmp *fake);
/* The unix socket's PATH; NULL for tcp. */
const char *xe_fake_qmp_get_path(XeFakeQmp *fake);

/* Script steps, played in order once the client connects. */
void xe_fake_qmp_send(XeFakeQmp *fake, const char *raw);
void xe_fake_qmp_send_bytes(XeFakeQmp *fake, const void *data, gsize len);
/* Sends @raw one byte per write. */
void xe_fake_qmp_send_trickle(XeFakeQmp *fake, const char *raw);
void xe_fake_qmp_greeting(XeFakeQmp *fake);
/* Greeting, then expects qmp_capabilities and answers {}. */
void xe_fake_qmp_negotiate(XeFakeQmp *fake);
void xe_fake_qmp_event(XeFakeQmp *fake, const char *name, const char *data_json);
/* Sends @count copies of @name in large writes. */
void xe_fake_qmp_event_flood(XeFakeQmp *fake, const char *name, guint count);
/* Sends '{"return": "' and then @size bytes of 'a' with no end, stopping at
 * the first write the client no longer takes. */
void xe_fake_qmp_send_endless_string(XeFakeQmp *fake, gsize size);

/* Expects @command; @args_json NULL accepts any arguments, "{}" demands none.
 * Serves {"return": @return_json, "id": <id>}. */
void xe_fake_qmp_expect(XeFakeQmp *fake, const char *command, const char *args_json,
                        const char *return_json);
void xe_fake_qmp_expect_error(XeFakeQmp *fake, const char *command, const char *args_json,
                              const char *klass, const char *desc);
/* Serves @reply_template with every %ID% replaced by the command's id. */
void xe_fake_qmp_expect_raw(XeFakeQmp *fake, const char *command, const char *args_json,
                            const char *reply_template);
/* Takes @command without answering; its id goes to the next deferred slot
 * (0, 1, ...), answered later by xe_fake_qmp_reply_deferred(). */
void xe_fake_qmp_expect_deferred(XeFakeQmp *fake, const char *command, const char *args_json);
void xe_fake_qmp_reply_deferred(XeFakeQmp *fake, guint slot, const char *reply_template);

/* From here on, @command with any arguments is answered {"return": @return_json, "id": <id>}
 * whenever it comes while the peer waits for something else; an expect step for @command
 * itself still takes it. A later call for @command replaces the answer; NULL removes it.
 * The step returns at once. */
void xe_fake_qmp_standing(XeFakeQmp *fake, const char *command, const char *return_json);
/* Waits @ms, answering standing commands; any other command fails the script. Ends early
 * should the client close the connection (the next step sees it). */
void xe_fake_qmp_pause(XeFakeQmp *fake, guint ms);
/* Closes the connection if still open and waits for the client to connect again on the
 * same socket; the script goes on on the new connection (usually with negotiate). */
void xe_fake_qmp_accept(XeFakeQmp *fake);

/* Waits for the client to close the connection (EOF). */
void xe_fake_qmp_wait_eof(XeFakeQmp *fake);
/* Closes the connection (orderly EOF), or resets it (RST: ECONNRESET). */
void xe_fake_qmp_close(XeFakeQmp *fake);
void xe_fake_qmp_reset(XeFakeQmp *fake);

/* Starts playing the script (call before connecting). */
void xe_fake_qmp_start(XeFakeQmp *fake);
/* Stops the peer and reports: FALSE with a message in @failure when the
 * client deviated from the script or steps were left unplayed. */
gboolean xe_fake_qmp_finish(XeFakeQmp *fake, char **failure);
/* Bytes the peer managed to write in total. */
guint64 xe_fake_qmp_get_bytes_sent(XeFakeQmp *fake);
void xe_fake_qmp_free(XeFakeQmp *fake);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeFakeQmp, xe_fake_qmp_free)

/* ck_assert that the fake saw exactly its script. */
#define xe_fake_qmp_assert_done(fake)                                                        \
    do {                                                                                     \
        g_autofree char *_failure = NULL;                                                    \
        ck_assert_msg(xe_fake_qmp_finish((fake), &_failure), "fake QMP peer: %s", _failure); \
    } while (0)

G_END_DECLS
