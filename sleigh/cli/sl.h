/*
 * sl.h -- the sleigh command's private header (sleigh/cli/): its constants,
 * types and the functions its files share, one section per file.  main.c
 * has the overview of the command.
 */
#ifndef NWS_SLEIGH_CLI_SL_H
#define NWS_SLEIGH_CLI_SL_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "nws.h"
#include "nws_sleigh.h"

struct nwsp_nodes;
struct sl_done;
struct sl_run;

#define SL_EXIT_MAX_FAILED 101
#define SL_EXIT_ERROR      255
#define SL_MAX_RETRIES     1000
#define SL_READ_AHEAD      10000 /* stdin lines read beyond those submitted */
#define SL_SERVER_WAIT_MS  10000 /* for the private server's ready line */
#define SL_SERVER_STOP_MS  3000
#define SL_POLL_MS         20  /* a wait while stdin may still bring input */
#define SL_IDLE_MS         250 /* a wait for results when all input is in */
#define SL_HEALTH_S        2.0 /* look at the workers after this long without results */
#define SL_PROGRESS_S      0.2
#define SL_SPILL           65536 /* a job's stream past this travels as a value of its own */

/* util.c: messages, allocation that dies on failure, a growable string. */
extern const char *sl_prog;
void               sl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void               sl_nomem(void) __attribute__((noreturn));

/* A growable byte string, always NUL-terminated once anything was added. */
struct sl_buf {
    char  *p;
    size_t len, cap;
};

void *sl_malloc(size_t n);
void *sl_reallocarray(void *p, size_t n, size_t sz);
char *sl_strdup(const char *s);
int   sl_write_all(int fd, const char *buf, size_t len);
void  sl_buf_add(struct sl_buf *b, const char *s, size_t n);
void  sl_buf_adds(struct sl_buf *b, const char *s);
void  sl_buf_add_word(struct sl_buf *b, const char *s, size_t n);
int   sl_parse_count(const char *s, long max, long *out);

/* opts.c: the options. */
enum sl_shell_mode { SL_SHELL_AUTO, SL_SHELL_NEVER, SL_SHELL_ALWAYS };
enum sl_progress_mode { SL_PROGRESS_AUTO, SL_PROGRESS_ON, SL_PROGRESS_OFF };

struct sl_opts {
    const char *jobs; /* -j as given; NULL: one per core */
    /* Jobs and output as GNU parallel (pout, issue 17; opts.c's pout block). */
    double          delay;         /* --delay: seconds between job starts */
    uint64_t        memfree;       /* --memfree: bytes that must be free; 0: no check */
    const char     *load;          /* --load as given (as -j: N, N%, +N, -N) */
    const char     *results;       /* --results DIR or name template */
    int             files;         /* --files: print output file names */
    const char     *tagstring;     /* --tagstring STR */
    int             line_buffer;   /* --line-buffer */
    int             ungroup;       /* --ungroup, -u */
    int             eta;           /* --eta */
    int             resume;        /* --resume */
    int             resume_failed; /* --resume-failed */
    int         keep_order;
    int         progress; /* enum sl_progress_mode */
    const char *joblog;
    long        retries;
    long        chunk;
    double      timeout; /* seconds per command; 0: none */
    const char *halt_spec; /* --halt as given */
    nws_sleigh_halt halt;
    long        max_output;
    const char *server; /* HOST:PORT */
    const char     *reconnect; /* --reconnect SECONDS as given (digits), or NULL */
    char        delim;  /* '\n', or '\0' with -0 */
    int         shell;  /* enum sl_shell_mode */
    int         tag;
    int         verbose; /* print each command before its output */
    int         dry_run;
    int         worker_log;
    /* Workers on other machines. */
    const char *nodes[64];      /* -S lists */
    int         nnodes;
    const char *nodefiles[16];  /* --nodefile */
    int         nnodefiles;
    const char *launcher;       /* --launcher */
    const char *remote_server;  /* --remote-server HOST[:PORT] */
    const char *ssh_user;
    long        ssh_port;
    const char *ssh_config;
    const char *ssh_identity;
    const char *known_hosts;
    int         accept_new;
    int         partial;
    double      ssh_timeout;    /* --ssh-timeout: seconds per node to start; 0: 30 */
    const char *worker;         /* --worker: nws-worker on the nodes */
    const char *arg_files[64];
    int         narg_files;
    /* Files to and from the workers (transfer.c). */
    const char *xfer_in[32]; /* --transferfile (and --transfer: "{}") */
    int         nxfer_in;
    const char *xfer_ret[32]; /* --return */
    int         nxfer_ret;
    const char *xfer_base[32]; /* --basefile */
    int         nxfer_base;
    int         xfer_cleanup; /* --cleanup */
    /* Input shaping, as GNU parallel (pin: opts.c's own block). */
    int         link;         /* --link: all sources go together, the shorter wrapping */
    const char *colsep;       /* --colsep REGEX: inputs split into columns */
    int         header;       /* --header: the first input of each source names it */
    long        header_lines; /* --header N (--pipe: N lines); 0: one */
    long        max_args;     /* -N/-n/-L: inputs per command (-1: not given) */
    int         lines;        /* -L: lines ending in a blank continue */
    int         xmode;        /* enum sl_xmode: -X, -m */
    long        max_chars;    /* -s: command line length for -X/-m (0: the default) */
    int         pipe;         /* enum sl_pipe_mode */
    long        block;        /* --block: bytes per --pipe block */
    const char *recend;       /* --recend (default "\n") */
    const char *recstart;     /* --recstart (default "") */
};

enum sl_xmode { SL_X_NONE, SL_X_CONTEXT, SL_X_MULTI };
enum sl_pipe_mode { SL_PIPE_NONE, SL_PIPE_STDIN, SL_PIPE_PART };
/* -s, and its most: GNU parallel's (its measured 130329 under Linux's 128 KiB
 * for one argument, less 3000, halved). */
#define SL_MAX_CHARS_DEFAULT 63664
#define SL_NSRC_ANY          100000 /* --colsep: {N} is a column, there or not */

int  sl_parse_opts(int argc, char **argv, struct sl_opts *o, int *optind_out);
long sl_jobs(const char *spec);

/* input.c: input sources (each ::: list or :::: file one source). */
struct sl_src {
    char **v;
    size_t n, cap;
    int    linked; /* goes with the previous source (:::+), not across it */
    int    cont;   /* -L: a line ending in a blank goes on with the next one */
};

struct sl_input {
    struct sl_src *src;
    size_t         nsrc;
    /* Groups of linked sources: the product runs over these. */
    size_t       *group_first; /* first source of each group */
    size_t       *group_len;   /* elements of each group (its longest source) */
    size_t        ngroups;
    size_t        total;     /* elements; for stdin, lines read so far */
    int           streaming; /* stdin lines, read as the run goes */
    int           piped;     /* --pipe/--pipepart: elements are blocks (pipe.c) */
    int           eof;       /* streaming: stdin is finished */
    int           fd;        /* streaming: 0 */
    char          delim;
    struct sl_buf partial; /* streaming: the line being read */
    /* Shaping (-N, -X/-m, --colsep, --header, --link): elements are groups
     * of base inputs (a product element, or a stdin line). */
    size_t        nbase;    /* base inputs known so far */
    int           link_all; /* --link: one group of every source, wrapping */
    long          per;      /* -N: base inputs per element; 0: one */
    int           noargs;   /* -N0: the inputs are not given to the command */
    int           xmode;    /* enum sl_xmode: elements packed by sl_input_pack */
    size_t       *starts;   /* xmode: element i is base inputs starts[i]..starts[i+1]-1 */
    size_t        nstarts;
    int           colsep_on;
    void         *colsep; /* regex_t */
    int           header; /* a header still to take (streaming) */
    char        **names;  /* --header: the name of each argument position */
    size_t        nnames;
    const char  **gargs; /* sl_input_args's answer */
    size_t        gcap;
    struct sl_buf cols; /* --colsep: the columns of the element at hand */
};

int  sl_input_parse(struct sl_input *in, const struct sl_opts *o, int argc, char **argv,
                    int first, int *ncmd);
int  sl_input_plan(struct sl_input *in);
void sl_input_elem(const struct sl_input *in, size_t idx, const char **args);
int    sl_input_shape(struct sl_input *in, const struct sl_opts *o);
size_t sl_input_args(struct sl_input *in, size_t idx, const char *const **args);
size_t sl_input_tmpl_nsrc(const struct sl_input *in);
int    sl_input_vmode(const struct sl_input *in);
struct sl_tmpl;
int  sl_input_pack(struct sl_input *in, const struct sl_tmpl *t, long jobs,
                   size_t max_chars);
int  sl_input_fill(struct sl_input *in, int wait_ms);
void sl_input_free(struct sl_input *in);
void sl_read_ahead(struct sl_input *in, long workers);

/* pipe.c: --pipe and --pipepart, input cut into blocks of records. */
struct sl_pipe {
    int           fd;    /* stdin, or the --pipepart file */
    int           part;  /* --pipepart */
    size_t        block; /* --block */
    size_t        nrec;  /* -N: records a block; 0: by size */
    char         *recend, *recstart;
    size_t        lend, lstart;
    struct sl_buf buf; /* --pipe: read, not sent yet (from start) */
    size_t        start;
    int           eof;        /* --pipe: stdin ended */
    uint64_t      off, fsize; /* --pipepart: the next block's offset, the file's size */
    int           ready;      /* a block is found, not sent: blen bytes */
    size_t        blen;
    int           done; /* no more blocks */
    uint64_t      bytes_in, sent;
    long          hlines; /* --header: lines of it (0: none) */
    struct sl_buf hdr;    /* the header, sent before every block */
    int           hdone;  /* it was looked for */
    char         *path;   /* --pipepart on this machine: the file, read in place */
    uint64_t     *ranges; /* then: offset and length of block i at 2i, 2i+1 */
    size_t        nranges;
};

int     sl_pipe_open(struct sl_pipe *pp, const struct sl_opts *o, long workers);
int     sl_pipe_read(struct sl_pipe *pp);
void    sl_pipe_var(size_t idx, char *buf, size_t len);
json_t *sl_pipe_arg(const struct sl_pipe *pp, size_t idx);
int     sl_pipe_inplace(struct sl_pipe *pp, const char *file);
int     sl_pipe_store(struct sl_pipe *pp, nws_ws *ws, size_t idx);
void    sl_pipe_skip(struct sl_pipe *pp);
void    sl_pipe_close(struct sl_pipe *pp);

/* tmpl.c: the command template. */
/*
 * A command word is parsed into segments: literal text and placeholders.
 * Compiling gives output words, each a sequence of pieces: a slot (a text
 * made of segments, filled per element) or the rank marker.  The structure
 * is the same for every element; only slot texts change.
 */
enum sl_seg_kind { SL_SEG_TEXT, SL_SEG_INPUT, SL_SEG_SEQ, SL_SEG_RANK, SL_SEG_XWORD };
enum sl_mod { SL_MOD_NONE, SL_MOD_NOEXT, SL_MOD_BASE, SL_MOD_DIR, SL_MOD_BASE_NOEXT };

struct sl_seg {
    int         kind; /* enum sl_seg_kind */
    const char *text; /* SL_SEG_TEXT: borrowed from argv or static */
    size_t      len;
    size_t      src;   /* SL_SEG_INPUT: 0 all inputs, else the 1-based source */
    int         mod;   /* enum sl_mod */
    int         quote; /* single-quote the input (shell mode) */
    int         raw;   /* the input as shell text, unquoted (no command given) */
    int         lead;  /* a space before each input, the first too (appended ones) */
    /* SL_SEG_XWORD (-X): a word repeated for each argument, {} being that one. */
    const struct sl_seg *sub;
    size_t               nsub;
};

struct sl_slot {
    struct sl_seg *segs;
    size_t         nsegs;
    int            fixed; /* no input in it: the same for every element */
    char          *text;  /* fixed: its text */
    size_t         argno; /* 1-based position in the task's argument list */
};

#define SL_PIECE_RANK SIZE_MAX

struct sl_oword {
    size_t *pieces; /* slot indexes, or SL_PIECE_RANK */
    size_t  npieces;
};

struct sl_tmpl {
    struct sl_oword *words;
    size_t           nwords;
    struct sl_slot  *slots;
    size_t           nslots;
    size_t           nvar;  /* slots that vary: the element's arguments */
    int              shell; /* run as /bin/sh -c WORD2 */
    struct sl_seg  **keep;  /* -X: the words XWORD segments point into */
    size_t           nkeep;
    size_t           stdin_arg; /* --pipe: the argument naming the stdin value; 0 none */
};

/* sl_tmpl_compile's vmode: how many arguments an element has. */
enum sl_vmode { SL_V_FIXED, SL_V_ANY, SL_V_CONTEXT };

size_t  sl_placeholder(const char *p, size_t nsrc, struct sl_seg *seg);
int     sl_word_needs_shell(const char *word, size_t nsrc, int first);
void    sl_tmpl_compile(struct sl_tmpl *t, char **cmd, size_t ncmd, size_t nsrc,
                        int shell_mode, int vmode);
void    sl_tmpl_set_names(char *const *names, size_t n);
size_t  sl_tmpl_nsep(const struct sl_tmpl *t);
size_t  sl_tmpl_len(const struct sl_tmpl *t, const char *const *args, size_t nargs,
                    size_t idx);
void    sl_tmpl_free(struct sl_tmpl *t);
void    sl_slot_fill(const struct sl_slot *slot, const char *const *args, size_t nsrc,
                     size_t idx, struct sl_buf *b);
void    sl_tmpl_display(const struct sl_tmpl *t, char *const *texts, int rank,
                        struct sl_buf *b);
json_t *sl_tmpl_task(const struct sl_tmpl *t, const struct sl_opts *o, json_t **fixed);
void    sl_tmpl_pipe(struct sl_tmpl *t);

/* server.c: the server of the run (maybe a private nwsserver). */
struct sl_server {
    char  host[256];
    int   port;
    pid_t pid;      /* a private nwsserver we started, or 0 */
    int   ready_fd; /* its stdout, kept open until it stops */
};

void sl_server_stop(struct sl_server *sv);
int  sl_server_find(struct sl_server *sv, const struct sl_opts *o, const char *bind,
                    int bind_port);

/* nodes.c: where the workers run. */
int     sl_nodes_plan(const struct sl_opts *o, struct nwsp_nodes *nl, int *remote,
                      long *local_slots);
int     sl_remote_server(const char *spec, char *host, size_t len, int *port);
int     sl_slurm_node_addr(const char *text, char *addr, size_t len);
int     sl_node_address(char *addr, size_t len);
json_t *sl_rank_nodes(nws_sleigh *s);

/* output.c: job output of any size, and the progress bar. */
void   sl_progress_clear(struct sl_run *run);
void   sl_progress_draw(struct sl_run *run, int force);
int    sl_stream_apart(const json_t *v, const char *stream);
size_t sl_stream_bytes(const json_t *v, const char *stream);
void   sl_stream_drop(struct sl_run *run, const json_t *v);
void   sl_print(struct sl_run *run, struct sl_done *d);
int    sl_save_stream(struct sl_run *run, struct sl_done *d, int which, int fd);
void   sl_output(struct sl_run *run, size_t idx, struct sl_done *d);
void   sl_one_line(char *s);
long   sl_value_int(const json_t *v, const char *key, long dflt);

/* run.c: the run, round by round. */
extern volatile sig_atomic_t sl_interrupted; /* the signal that asked us to stop */

/* One element's outcome, kept until it can be printed (-k). */
struct sl_done {
    char  *out, *err; /* new buffers (NULL: none) */
    size_t outlen, errlen;
    json_t *val;       /* the result, while a stream of it is still on the server */
    int     outfd, errfd; /* -k: a stream moved to a temp file; -1 none, -2 lost */
    char  *cmd; /* -v: the command line */
    char   *tag; /* --tag: the inputs; --tagstring: its text */
    size_t  idx; /* the element (--results, --files) */
    char   *rdir; /* --results: the element's name (directory or file) */
    char   *rec;  /* --results FILE.csv/.tsv/.json: its record up to the output */
};

struct sl_run {
    struct sl_opts  *o;
    struct sl_input *in;
    struct sl_tmpl  *t;
    nws_sleigh      *s;
    json_t          *task, *fixed;
    long             workers;
    FILE            *joblog;
    /* Jobs and output as GNU parallel (pace.c, results.c). */
    double           last_start;  /* nwsp_mono() of the last job pushed (--delay) */
    double           load_max;    /* --load: running processes allowed; 0: none */
    unsigned char   *skip;        /* --resume: elements done in an earlier run (bitmap) */
    size_t           nskip;       /* bits in skip */
    size_t           skipped;     /* elements --resume left out */
    struct sl_slot  *tagslot;     /* --tagstring compiled */
    struct sl_slot  *resslot;     /* --results name compiled (NULL: a plain DIR) */
    int              pace_ready;  /* --delay: every worker is registered */
    size_t           running_est; /* jobs out and not back: --eta */
    int              eta_shown;
    int              res_fmt;  /* --results FILE.csv/.tsv/.json: 'c', 't', 'j'; else 0 */
    FILE            *resfp;    /* that file (stdout for -.csv ...) */
    int              res_rows; /* records written to it */
    json_t          *rank_nodes; /* remote workers: {"rank": node} for the joblog */
    struct sl_xfer  *xfer;       /* files to and from the workers, or NULL */
    struct sl_stream *stream;     /* --line-buffer, -u: output as it comes, or NULL */
    struct sl_pipe  *pipe;       /* --pipe: the blocks, and their connection */
    nws_client      *pipe_c;
    nws_ws          *pipe_ws;

    /* Element bookkeeping. */
    size_t           done;   /* elements finished for good */
    size_t           failed; /* of which failed */
    int              halted; /* --halt struck: no more inputs run */
    size_t           not_run; /* inputs --halt left out */
    int              fail_status; /* exit status of the first failed input (--halt) */
    struct sl_done **held;   /* -k: finished, not printed yet (by element) */
    size_t           nheld;
    size_t           next_print;
    size_t          *retry; /* elements to run again in the next round */
    size_t           nretry, cap_retry;

    /* Slot texts of the element at hand. */
    struct sl_buf *slot_bufs;
    char         **texts;

    /* Progress bar. */
    int    progress;
    int    tty; /* stderr is a terminal */
    int    bar_shown;
    double started, last_draw;
    int    broken; /* stdout is gone */
    int    server_gone; /* unreachable past --reconnect: stop without it */
};

/* pace.c: when the next job may start (-j 0, --delay, --load, --memfree). */
int  sl_pace_parse_duration(const char *s, double *out);
int  sl_pace_parse_units(const char *s, double *out);
long sl_pace_jobs_max(void);
int  sl_pace_setup(struct sl_run *run);
long sl_pace_wait_ms(struct sl_run *run);
int  sl_pace_active(const struct sl_run *run);
void sl_pace_started(struct sl_run *run);

/* results.c: --results, --files, --tagstring, --joblog's values, --resume. */
int   sl_results_setup(struct sl_run *run);
void  sl_results_free(struct sl_run *run);
char *sl_results_tag(struct sl_run *run, size_t idx, int rank);
void  sl_results_name(struct sl_run *run, size_t idx, int rank, struct sl_done *d);
void  sl_results_record(struct sl_run *run, struct sl_done *d, size_t idx,
                        const char *host, double start, double secs, size_t received,
                        long exitval, long sig, const char *cmd);
int   sl_results_write(struct sl_run *run, struct sl_done *d);
int   sl_joblog_open(struct sl_run *run);
int   sl_resume_skip(const struct sl_run *run, size_t idx);
void  sl_joblog_line(struct sl_run *run, size_t idx, const char *host, double start,
                     double secs, size_t received, long status, long sig, const char *cmd);

char *sl_run_tag(struct sl_run *run, size_t idx, int rank);
char *sl_run_cmd(struct sl_run *run, size_t idx, int rank);
void sl_signals(void);
int  sl_run_all(struct sl_run *run);
int  sl_dry_run(struct sl_run *run);

/*
 * transfer.c: files to and from the workers, through the server
 * (--transferfile, --return, --cleanup, --basefile).  sl_xfer_opt takes
 * one of those options (name without "--"); 0, or -1 (message printed).
 * sl_xfer_init stores the basefiles and marks run->task (nothing to do
 * without those options: run->xfer stays NULL); sl_xfer_args stores
 * element idx's files for its attempt and adds their record to args;
 * sl_xfer_result deletes them once the result r is in and writes the
 * returned files (if r is the element's last attempt: retries say) or
 * drops them, making r an error when that fails; sl_xfer_end cleans the
 * nodes (--cleanup) and frees.  0, or -1 (message printed).
 */
struct sl_xfer;
int  sl_xfer_opt(struct sl_opts *o, const char *name, const char *arg);
int  sl_xfer_init(struct sl_run *run);
int  sl_xfer_args(struct sl_run *run, size_t idx, long attempt, json_t *args);
void sl_xfer_result(struct sl_run *run, size_t idx, long attempt, nws_sleigh_result *r);
int  sl_xfer_end(struct sl_run *run);

/*
 * stream.c: --line-buffer and --ungroup, output printed while the jobs run.
 * sl_stream_setup marks run->task (run->stream stays NULL when the options
 * do not ask for it, or -k, --results or --files take the output); 0.
 * sl_stream_poll prints the pieces there are (map[0..nmap) maps the batch
 * indexes to elements): how many, or -1 (message printed);
 * sl_stream_result takes the rest of batch index bi's pieces that result
 * value v counts and prints its last partial lines: 1 if its command was
 * printed before its output (-v), 0 if not, or -1; with -k a job whose
 * turn had not come gives its output as temporary files (*outfd, *errfd;
 * -1: none) for output.c to print; sl_stream_head, with -k, prints the
 * output so far of the first job not printed if it runs, then it goes live;
 * sl_stream_wait_ms is how long to wait for results before looking for
 * pieces again, after a look that took streamed pieces;
 * sl_stream_round_end forgets a round's jobs, sl_stream_free all.
 */
struct sl_stream;
int  sl_stream_setup(struct sl_run *run);
int  sl_stream_poll(struct sl_run *run, const size_t *map, size_t nmap);
int  sl_stream_result(struct sl_run *run, const size_t *map, size_t nmap, size_t bi,
                      const json_t *v, int *outfd, int *errfd);
void sl_stream_head(struct sl_run *run);
long sl_stream_wait_ms(const struct sl_run *run, int streamed);
void sl_stream_round_end(struct sl_run *run);
void sl_stream_free(struct sl_run *run);

#endif
