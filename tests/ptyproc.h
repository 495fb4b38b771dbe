/*
 * ptyproc.h -- a program run on a pseudo-terminal, for the tests of what
 * tools do only when they talk to a person (prompts, line editing,
 * completion, messages shown on a terminal only).
 *
 * The child gets a new session with the pty as its controlling terminal
 * and as stdin, stdout and stderr.  Everything it writes is kept, minus
 * terminal control sequences and bells (see ptyproc_read); expect
 * looks for text after the previous match, so a test reads as a dialogue.
 * Every wait is bounded, and free kills what is still running.
 */
#ifndef PTYPROC_H
#define PTYPROC_H

#include <stddef.h>
#include <sys/types.h>

struct ptyproc {
    pid_t  pid;
    int    fd;     /* the master side */
    char  *out;    /* all output so far, NUL-terminated */
    size_t len, cap;
    size_t mark;   /* expect searches from here */
    int    status; /* wait status once reaped, else -1 */
    int    esc;    /* inside a control sequence: 1 after ESC, 2 after ESC [ */
};

/*
 * Starts argv[0] (a path) with the environment changes env ("NAME=value",
 * or "NAME" to unset; NULL-terminated, may be NULL) on a new 80x24 pty.
 * 0, or -1.
 */
int ptyproc_start(struct ptyproc *p, char *const argv[], const char *const *env);

/* Waits up to ms for needle in the output after the mark; 1 (the mark moves
 * past it) or 0. */
int ptyproc_expect(struct ptyproc *p, const char *needle, int ms);

/* Types s (bytes as given: "\t" is Tab, "\r" Enter, "\004" ^D); 0 or -1. */
int ptyproc_send(struct ptyproc *p, const char *s);

/* Waits up to ms for the program to exit, reading its output meanwhile;
 * its exit status (128+signal if killed by one), or -1 on timeout. */
int ptyproc_wait(struct ptyproc *p, int ms);

/* Kills the program if still running, reaps it, frees the buffer. */
void ptyproc_free(struct ptyproc *p);

#endif
