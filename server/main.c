/*
 * main.c -- nwsserver: options, start-up, the event loop, shutdown.
 *
 * Start-up order: parse options (flags over environment over defaults),
 * bind the protocol port, daemonize if asked (the parent waits), write the
 * pid file, print the ready line (from the process that serves, so its pid
 * is the daemon's), let the parent go, then build the event base (after the
 * fork, as libevent requires) and run.
 * SIGTERM and SIGINT end the loop; shutdown drops every connection, purges
 * every workspace (which closes every spool file) and removes the suffix
 * and pid files.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "nws.h" /* NWS_DEFAULT_PORT */
#include "journal.h"
#include "server.h"
#include "session.h"
#include "util.h"

/* getopt_long codes of the long options with no short form: past any char. */
enum {
    OPT_MAX_VALUE_SIZE = 256,
    OPT_MAX_MEMORY,
    OPT_PIDFILE,
    OPT_LOG_LEVEL,
    OPT_R_STARTUP,
    OPT_WEB_BIND,
    OPT_WEB_READONLY,
    OPT_NO_WEB,
    OPT_MAX_CLIENTS,
    OPT_FRAME_TIMEOUT,
    OPT_WRITE_TIMEOUT,
    OPT_AUTH_FILE,
    OPT_NO_AUTH,
    OPT_NO_SESSIONS,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_KEEPALIVE,
    OPT_WEB_MAX_CLIENTS,
    OPT_WEB_REQUEST_TIMEOUT,
    OPT_CLIENT_OUTPUT_LIMIT,
    OPT_JOURNAL,
    OPT_FSYNC,
    OPT_JOURNAL_CHECK,
    OPT_FIX,
    OPT_JOURNAL_IGNORE_CORRUPT,
    OPT_RESUME_GRACE,
    OPT_JOURNAL_COMPACT_FACTOR,
    OPT_JOURNAL_COMPACT_MIN,
};

static void
usage(FILE *fp)
{
    /* One line of help a line of source, with CFG_STR inside. */
    /* clang-format off */
    fprintf(fp,
            "usage: nwsserver [options]\n"
            "      --config FILE        read options from FILE, one \"name value\" a line\n"
            "                           (name: a long option below); the command line wins\n"
            "  -p, --port N             protocol port (default " CFG_STR(NWS_DEFAULT_PORT) ", env NWS_SERVER_PORT;\n"
            "                           0 picks a free port)\n"
            "  -w, --web-port N         web interface port, advertised to clients\n"
            "                           (default " CFG_STR(CFG_DEFAULT_WEB_PORT) ", env NWS_WEB_PORT; 0 picks a free port)\n"
            "      --web-bind ADDR      web interface address (default " CFG_DEFAULT_WEB_BIND " whatever\n"
            "                           --bind says; reach it from elsewhere by ssh -L)\n"
            "      --web-readonly       the web interface only shows: no delete, fetch, store\n"
            "      --no-web             no web interface\n"
            "      --web-max-clients N  web connections served at once; more wait to be\n"
            "                           accepted (default " CFG_STR(CFG_DEFAULT_WEB_MAX_CLIENTS) ")\n"
            "      --web-request-timeout S  close a web connection that has not sent a\n"
            "                           whole request within S seconds (default "
            CFG_STR(CFG_DEFAULT_WEB_REQUEST_TIMEOUT) ")\n"
            "  -i, --bind ADDR          address to listen on (default " CFG_DEFAULT_BIND ",\n"
            "                           env NWS_INTERFACE; 0.0.0.0 or :: serves the LAN)\n"
            "  -t, --tmpdir DIR         where long values are spooled (env NWS_TMP_DIR,\n"
            "                           then TMPDIR, then " CFG_DEFAULT_TMPDIR ")\n"
            "  -s, --spool-threshold SIZE  values this long or longer live in a temp file\n"
            "                           (default " CFG_STR(CFG_DEFAULT_SPOOL_MIB) "M, env NWS_LONG_VALUE_SIZE; 0: never)\n"
            "      --max-value-size SIZE   longest value accepted (default "
            CFG_STR(CFG_DEFAULT_MAX_VALUE_GIB) "G)\n"
            "      --max-memory SIZE    memory held for clients: values, names, buffers\n"
            "                           (default: half of RAM)\n"
            "      --client-output-limit HARD,SOFT,S  close a client whose unsent replies\n"
            "                           pass HARD bytes, or SOFT bytes for S seconds in a\n"
            "                           row (default 16M,4M,30; 0 turns a limit off)\n"
            "      --max-clients N      refuse connections past N (default: what the\n"
            "                           descriptor limit allows, less a reserve)\n"
            "      --frame-timeout S    close a client that stops in the middle of a request\n"
            "                           for S seconds (default " CFG_STR(CFG_DEFAULT_FRAME_TIMEOUT) "; 0: never); a client\n"
            "                           waiting in a blocking fetch never times out\n"
            "      --write-timeout S    close a client that reads none of its replies for S\n"
            "                           seconds (default " CFG_STR(CFG_DEFAULT_WRITE_TIMEOUT) "; 0: never)\n"
            "      --auth-file FILE     require the secret on FILE's first line instead of\n"
            "                           the default: $NWS_AUTH_FILE, else ~/.nws/secret\n"
            "                           (made on first use); clients answer a challenge\n"
            "                           with it, browsers give it as the password\n"
            "      --no-auth            require no secret: for the classic Python, R and\n"
            "                           Java clients; anyone who reaches the port can then\n"
            "                           read every value and run tasks on sleigh workers\n"
            "      --tls-cert FILE      PEM certificate chain: both ports speak TLS from the\n"
            "                           first byte (with --tls-key; classic clients cannot)\n"
            "      --tls-key FILE       the certificate's PEM private key\n"
            "      --keepalive S        probe a silent peer after S seconds and drop it when\n"
            "                           3 probes go unanswered (default " CFG_STR(CFG_DEFAULT_KEEPALIVE) "; 0: the system's)\n"
            "      --journal DIR        keep the state in DIR: it survives a restart or a crash\n"
            "      --fsync POLICY       always (on disk before the reply), everysec (default:\n"
            "                           a crash of the machine loses up to ~1 s) or no\n"
            "      --journal-check DIR  check DIR's journal and exit (0: loadable); with\n"
            "                           --fix, cut it at the last good record\n"
            "      --journal-ignore-corrupt  start even past a corrupt record, dropping\n"
            "                           the records from it on\n"
            "      --resume-grace S     a session whose connection is lost (or restored\n"
            "                           from the journal) waits S seconds to be resumed,\n"
            "                           then ends (default " CFG_STR(JOURNAL_RESUME_GRACE_DEF) ")\n"
            "      --no-sessions        do not offer resumable sessions (NwsSession)\n"
            "      --journal-compact-factor F  write a new snapshot when the journal is F\n"
            "                           times the last one (default 2)\n"
            "      --journal-compact-min SIZE  ... and at least SIZE (default 64M)\n"
            "      --pidfile FILE       write the process id to FILE\n"
            "  -d, --daemon             detach and log to syslog\n"
            "      --log-level LEVEL    error, warn, info (default) or debug\n"
            "      --r-startup          print port, web port, pid and host on four lines\n"
            "                           and close stdout (for R's managed server)\n"
            "  -V, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n"
            "SIZE takes a K, M or G suffix (powers of 1024).\n");
    /* clang-format on */
}

/*
 * A bad command line: one line naming the problem, then where the help is
 * (not the whole help), as sleigh does.  getopt's own messages are off
 * (opterr = 0) because they name the program by its path.
 */
static void
main_optfail(char **argv, int ch)
{
    const char *arg = argv[optind - 1];

    if (ch == ':')
        fprintf(stderr, "nwsserver: option %s needs a value\n", arg);
    else if (optopt != 0)
        fprintf(stderr, "nwsserver: unknown option -%c\n", optopt);
    else
        fprintf(stderr, "nwsserver: unknown option %s\n", arg);
    fprintf(stderr, "Try 'nwsserver --help'.\n");
}

/*
 * --daemon, first half: forks.  The parent waits until the child has
 * written its pid file and ready line (main_daemon_detach), then exits 0,
 * or 1 if the child died first; only the child returns, in a new session.
 * Returns the fd the child signals on.
 */
static int
main_daemon_fork(void)
{
    int   pfd[2];
    char  ok = 0;
    pid_t pid;

    fflush(NULL); /* nothing buffered is written twice */
    if (pipe(pfd) != 0)
        fatal("pipe");
    if ((pid = fork()) == -1)
        fatal("fork");
    if (pid > 0) {
        close(pfd[1]);
        while (read(pfd[0], &ok, 1) == -1 && errno == EINTR)
            ;
        _exit(ok == 'k' ? 0 : 1);
    }
    close(pfd[0]);
    if (setsid() == -1)
        fatal("setsid");
    return pfd[1];
}

/* --daemon, second half: standard streams to /dev/null, the parent let go. */
static void
main_daemon_detach(int fd, int log_level)
{
    int null = open("/dev/null", O_RDWR);

    if (null == -1)
        fatal("/dev/null");
    fflush(NULL);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
        close(null);
    log_init(log_level, 1);
    if (write(fd, "k", 1) != 1)
        log_warn("cannot signal the parent");
    close(fd);
}

/* Parses a plain decimal count; -1 when malformed. */
static int
parse_count(const char *s, uint64_t *out)
{
    char              *end;
    unsigned long long v;

    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Parses --client-output-limit HARD,SOFT,SECONDS (sizes with K/M/G); 0 or -1. */
static int
parse_output_limit(const char *arg, struct config *cfg)
{
    char     buf[96], *soft, *secs;
    uint64_t h, sf, sec;

    if (strlen(arg) >= sizeof(buf))
        return -1;
    strcpy(buf, arg);
    if ((soft = strchr(buf, ',')) == NULL || (secs = strchr(soft + 1, ',')) == NULL)
        return -1;
    *soft++ = '\0';
    *secs++ = '\0';
    if (nwsp_parse_size(buf, UINT64_MAX, &h) != 0 ||
        nwsp_parse_size(soft, UINT64_MAX, &sf) != 0 || parse_count(secs, &sec) != 0 ||
        sec > 86400)
        return -1;
    cfg->out_hard = h;
    cfg->out_soft = sf;
    cfg->out_soft_secs = (int)sec;
    return 0;
}

/*
 * Raises the soft descriptor limit to the hard one and returns how many
 * clients fit, keeping a reserve for listeners, spool files and the web.
 */
static unsigned
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
        return 1000000;
    return rl.rlim_cur > 256 ? (unsigned)(rl.rlim_cur - 128) : (unsigned)rl.rlim_cur / 2;
}

/* Parses a port number; -1 when malformed or out of range. */
static int
parse_port(const char *s)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
        return -1;
    return (int)v;
}

/* Encodes the advertisement dictionary once (section 2.5; never SSL). */
static void
build_advert(void)
{
    struct nwsp_buf b = {0};
    char            port[16];

    /* NwsWebPort only when a web interface runs (section 2.5). */
    snprintf(port, sizeof(port), "%d", srv.actual_web_port);
    /* NwsAuth, with its challenge, is added per connection (auth_advertise). */
    /* NwsSession: resumable sessions (docs/SESSIONS.md), unless --no-sessions. */
    if (nwsp_buf_dict_begin(&b, (srv.cfg.no_web ? 3 : 4) + !session_disabled) != 0 ||
        (!srv.cfg.no_web &&
         nwsp_buf_dict_put(&b, "NwsWebPort", 10, port, strlen(port)) != 0) ||
        nwsp_buf_dict_put(&b, "MetadataFromServer", 18, "", 0) != 0 ||
        nwsp_buf_dict_put(&b, "MetadataToServer", 16, "", 0) != 0 ||
        nwsp_buf_dict_put(&b, "KillServerOnClose", 17, "", 0) != 0 ||
        (!session_disabled &&
         nwsp_buf_dict_put(&b, SESSION_OPTION, strlen(SESSION_OPTION), "", 0) != 0))
        fatalx("advertisement");
    srv.advert = b.data;
    srv.advert_len = b.len;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    log_info("signal %d: shutting down", (int)sig);
    event_base_loopexit(srv.base, NULL);
}

/* Seeds the hash key and random() from the kernel. */
static void
seed_randomness(void)
{
    unsigned char key[16];
    unsigned      s;

    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        fatal("getrandom");
    htab_seed(key);
    memcpy(&s, key, sizeof(s));
    srandom(s ^ (unsigned)time(NULL) ^ (unsigned)getpid());
}

/* Options from the environment, as the classic server reads them (section 12). */
static void
config_from_env(struct config *cfg)
{
    const char *e;
    uint64_t    v;
    int         p;

    if ((e = getenv("NWS_SERVER_PORT")) != NULL && (p = parse_port(e)) >= 0)
        cfg->port = p;
    if ((e = getenv("NWS_WEB_PORT")) != NULL && (p = parse_port(e)) >= 0)
        cfg->web_port = p;
    if ((e = getenv("NWS_INTERFACE")) != NULL && *e != '\0')
        cfg->bind = e;
    if ((e = getenv("NWS_TMP_DIR")) != NULL && *e != '\0')
        cfg->tmpdir = e;
    else if ((e = getenv("TMPDIR")) != NULL && *e != '\0')
        cfg->tmpdir = e;
    if ((e = getenv("NWS_LONG_VALUE_SIZE")) != NULL &&
        nwsp_parse_size(e, UINT64_MAX, &v) == 0)
        cfg->spool_threshold = v;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"web-port", required_argument, NULL, 'w'},
        {"bind", required_argument, NULL, 'i'},
        {"tmpdir", required_argument, NULL, 't'},
        {"spool-threshold", required_argument, NULL, 's'},
        {"max-value-size", required_argument, NULL, OPT_MAX_VALUE_SIZE},
        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
        {"pidfile", required_argument, NULL, OPT_PIDFILE},
        {"daemon", no_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"r-startup", no_argument, NULL, OPT_R_STARTUP},
        {"web-bind", required_argument, NULL, OPT_WEB_BIND},
        {"web-readonly", no_argument, NULL, OPT_WEB_READONLY},
        {"no-web", no_argument, NULL, OPT_NO_WEB},
        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
        {"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
        {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
        {"auth-file", required_argument, NULL, OPT_AUTH_FILE},
        {"no-auth", no_argument, NULL, OPT_NO_AUTH},
        {"no-sessions", no_argument, NULL, OPT_NO_SESSIONS},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {"web-max-clients", required_argument, NULL, OPT_WEB_MAX_CLIENTS},
        {"web-request-timeout", required_argument, NULL, OPT_WEB_REQUEST_TIMEOUT},
        {"client-output-limit", required_argument, NULL, OPT_CLIENT_OUTPUT_LIMIT},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"fsync", required_argument, NULL, OPT_FSYNC},
        {"journal-check", required_argument, NULL, OPT_JOURNAL_CHECK},
        {"fix", no_argument, NULL, OPT_FIX},
        {"journal-ignore-corrupt", no_argument, NULL, OPT_JOURNAL_IGNORE_CORRUPT},
        {"resume-grace", required_argument, NULL, OPT_RESUME_GRACE},
        {"journal-compact-factor", required_argument, NULL, OPT_JOURNAL_COMPACT_FACTOR},
        {"journal-compact-min", required_argument, NULL, OPT_JOURNAL_COMPACT_MIN},
        {NULL, 0, NULL, 0},
    };
    const char    *jcheck = NULL;
    int            jfix = 0;
    char          *endp;
    struct config *cfg = &srv.cfg;
    struct event  *sigterm, *sigint;
    sigset_t       stopsigs;
    uint64_t       v;
    long           pages, pagesize;
    int            ch, fd, web_fd = -1, port = 0, daemon_fd = -1;
    const char    *web_port = "off";
    char           web_port_buf[16];

    cfg->bind = CFG_DEFAULT_BIND;
    cfg->port = NWS_DEFAULT_PORT;
    cfg->web_port = CFG_DEFAULT_WEB_PORT;
    cfg->web_bind = CFG_DEFAULT_WEB_BIND;
    cfg->tmpdir = CFG_DEFAULT_TMPDIR;
    cfg->spool_threshold = (uint64_t)CFG_DEFAULT_SPOOL_MIB << 20;
    cfg->max_value_size = (uint64_t)CFG_DEFAULT_MAX_VALUE_GIB << 30;
    cfg->log_level = LOG_LVL_INFO;
    cfg->frame_timeout = CFG_DEFAULT_FRAME_TIMEOUT;
    cfg->write_timeout = CFG_DEFAULT_WRITE_TIMEOUT;
    cfg->keepalive = CFG_DEFAULT_KEEPALIVE;
    cfg->out_hard = NWS_OUT_HARD_DEF;
    cfg->out_soft = NWS_OUT_SOFT_DEF;
    cfg->out_soft_secs = NWS_OUT_SOFT_SECS_DEF;
    cfg->web_max_clients = CFG_DEFAULT_WEB_MAX_CLIENTS;
    cfg->web_request_timeout = CFG_DEFAULT_WEB_REQUEST_TIMEOUT;
    pages = sysconf(_SC_PHYS_PAGES);
    pagesize = sysconf(_SC_PAGESIZE);
    cfg->max_memory = pages > 0 && pagesize > 0 ? (uint64_t)pages * (uint64_t)pagesize / 2
                                                : 1ULL << 30;
    config_from_env(cfg);
    /* The file's lines become options ahead of the command line's (config.c). */
    if (config_expand(&argc, &argv, longopts) != 0)
        return 2;

    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":p:w:i:t:s:dVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
        case 'w':
            if ((port = parse_port(optarg)) < 0) {
                fprintf(stderr, "nwsserver: bad port: %s\n", optarg);
                return 2;
            }
            if (ch == 'p')
                cfg->port = port;
            else
                cfg->web_port = port;
            break;
        case 'i':
            cfg->bind = optarg;
            break;
        case 't':
            cfg->tmpdir = optarg;
            break;
        case 's':
        case OPT_MAX_VALUE_SIZE:
        case OPT_MAX_MEMORY:
            if (nwsp_parse_size(optarg, UINT64_MAX, &v) != 0) {
                fprintf(stderr, "nwsserver: bad size: %s\n", optarg);
                return 2;
            }
            if (ch == 's')
                cfg->spool_threshold = v != 0 && v < 64 ? 64 : v;
            else if (ch == OPT_MAX_VALUE_SIZE)
                cfg->max_value_size = v;
            else
                cfg->max_memory = v;
            break;
        case OPT_PIDFILE:
            cfg->pidfile = optarg;
            break;
        case 'd':
            cfg->daemon = 1;
            break;
        case OPT_LOG_LEVEL:
            if ((cfg->log_level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "nwsserver: bad log level: %s\n", optarg);
                return 2;
            }
            break;
        case OPT_R_STARTUP:
            cfg->r_startup = 1;
            break;
        case OPT_WEB_BIND:
            cfg->web_bind = optarg;
            break;
        case OPT_WEB_READONLY:
            cfg->web_readonly = 1;
            break;
        case OPT_NO_WEB:
            cfg->no_web = 1;
            break;
        case OPT_MAX_CLIENTS:
        case OPT_FRAME_TIMEOUT:
        case OPT_WRITE_TIMEOUT:
            if (parse_count(optarg, &v) != 0 || v > 10000000) {
                fprintf(stderr, "nwsserver: bad number: %s\n", optarg);
                return 2;
            }
            if (ch == OPT_MAX_CLIENTS)
                cfg->max_clients = (unsigned)v;
            else if (ch == OPT_FRAME_TIMEOUT)
                cfg->frame_timeout = (int)v;
            else
                cfg->write_timeout = (int)v;
            break;
        case OPT_AUTH_FILE:
            cfg->auth_file = optarg;
            break;
        case OPT_NO_SESSIONS:
            session_disabled = 1;
            break;
        case OPT_NO_AUTH:
            cfg->no_auth = 1;
            break;
        case OPT_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case OPT_KEEPALIVE:
            if (parse_count(optarg, &v) != 0 || v > 86400) {
                fprintf(stderr, "nwsserver: bad number: %s\n", optarg);
                return 2;
            }
            cfg->keepalive = (int)v;
            break;
        case OPT_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case OPT_WEB_MAX_CLIENTS:
        case OPT_WEB_REQUEST_TIMEOUT:
            if (parse_count(optarg, &v) != 0 || v == 0 || v > 100000) {
                fprintf(stderr, "nwsserver: bad number: %s\n", optarg);
                return 2;
            }
            if (ch == OPT_WEB_MAX_CLIENTS)
                cfg->web_max_clients = (unsigned)v;
            else
                cfg->web_request_timeout = (int)v;
            break;
        case OPT_CLIENT_OUTPUT_LIMIT:
            if (parse_output_limit(optarg, cfg) != 0) {
                fprintf(stderr, "nwsserver: bad --client-output-limit: %s "
                                "(want HARD,SOFT,SECONDS)\n", optarg);
                return 2;
            }
            break;
        case OPT_JOURNAL:
            journal_opts.dir = optarg;
            break;
        case OPT_FSYNC:
            if (journal_fsync_parse(optarg, &journal_opts.policy) != 0) {
                fprintf(stderr, "nwsserver: bad --fsync: %s (always, everysec or no)\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_JOURNAL_CHECK:
            jcheck = optarg;
            break;
        case OPT_FIX:
            jfix = 1;
            break;
        case OPT_JOURNAL_IGNORE_CORRUPT:
            journal_opts.ignore_corrupt = 1;
            break;
        case OPT_RESUME_GRACE:
            if (parse_count(optarg, &v) != 0 || v > 10000000) {
                fprintf(stderr, "nwsserver: bad number: %s\n", optarg);
                return 2;
            }
            journal_opts.resume_grace = (int)v;
            break;
        case OPT_JOURNAL_COMPACT_FACTOR:
            journal_opts.compact_factor = strtod(optarg, &endp);
            if (*endp != '\0' || endp == optarg ||
                !(journal_opts.compact_factor >= 1.0)) {
                fprintf(stderr,
                        "nwsserver: bad --journal-compact-factor: %s (at least 1)\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_JOURNAL_COMPACT_MIN:
            if (nwsp_parse_size(optarg, UINT64_MAX, &journal_opts.compact_min) != 0) {
                fprintf(stderr, "nwsserver: bad size: %s\n", optarg);
                return 2;
            }
            break;
        case 'V':
            printf("nwsserver %s\n", NWS_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            main_optfail(argv, ch);
            return 2;
        }
    }
    config_parsed();
    if (optind != argc) {
        fprintf(stderr, "nwsserver: unexpected argument %s\nTry 'nwsserver --help'.\n",
                argv[optind]);
        return 2;
    }

    if (jcheck != NULL)
        return journal_check(jcheck, jfix);
    if (jfix) {
        fprintf(stderr, "nwsserver: --fix goes with --journal-check\n");
        return 2;
    }
    log_init(cfg->log_level, 0);
    {
        unsigned fit = raise_fd_limit();

        if (cfg->max_clients == 0 || cfg->max_clients > fit)
            cfg->max_clients = fit;
    }
    /* Refused before the ready line, so whoever starts us sees the failure. */
    if (cfg->pidfile != NULL && tmpfiles_check_pidfile(cfg->pidfile) != 0)
        fatalx("cannot use the pid file %s", cfg->pidfile);
    if (cfg->no_auth && cfg->auth_file != NULL)
        fatalx("--no-auth and --auth-file exclude each other");
    if (auth_setup(cfg->auth_file, cfg->no_auth) != 0)
        fatalx("no secret to require (see above); --no-auth serves without one");
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
        fatalx("--tls-cert and --tls-key go together");
    if (cfg->tls_cert != NULL && tls_init(cfg->tls_cert, cfg->tls_key) != 0)
        fatalx("cannot set up TLS");
    signal(SIGPIPE, SIG_IGN);
    /*
     * Past a file size limit (ulimit -f) a spool write fails with EFBIG and
     * the store is refused, as on a full disk, instead of the signal's
     * default killing the server.
     */
    signal(SIGXFSZ, SIG_IGN);
    /*
     * Hold SIGTERM and SIGINT until the event loop handles them: whoever reads
     * the ready line may signal at once, and must get a clean shutdown.
     */
    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    sigaddset(&stopsigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stopsigs, NULL);
    seed_randomness();
    if ((fd = listen_bind(cfg->bind, cfg->port, &port)) == -1)
        fatalx("cannot listen on %s port %d", cfg->bind, cfg->port);
    /* The web port is bound now too, so the advertisement and the ready line
     * carry the real one.  A busy web port costs only the web interface,
     * never the protocol service; the log and the ready line say so in
     * words (web-port=unavailable), since web-port=0 reads as "any port". */
    srv.actual_web_port = 0;
    if (!cfg->no_web &&
        (web_fd = listen_bind(cfg->web_bind, cfg->web_port, &srv.actual_web_port)) == -1) {
        log_warnx("running WITHOUT the web interface: %s port %d is not available; "
                  "--web-port chooses another (0: any free port)",
                  cfg->web_bind, cfg->web_port);
        cfg->no_web = 1;
        web_port = "unavailable";
    } else if (!cfg->no_web) {
        snprintf(web_port_buf, sizeof(web_port_buf), "%d", srv.actual_web_port);
        web_port = web_port_buf;
    }
    if (tmpfiles_clean_stale() > 0)
        log_info("stale files of dead servers removed from %s", cfg->tmpdir);
    tmpfiles_make_suffix();
    build_advert();
    /* Replayed before the ready line: whoever starts us sees a refusal. */
    ws_init();
    if (journal_open() != 0)
        fatalx("cannot use the journal in %s: %s", journal_opts.dir,
               journal_open_error());

    if (cfg->daemon) {
        daemon_fd = main_daemon_fork();
        tmpfiles_mark(); /* the pid changed */
    }
    if (cfg->pidfile != NULL && tmpfiles_write_pidfile(cfg->pidfile) != 0)
        fatalx("cannot write the pid file %s", cfg->pidfile);
    if (cfg->r_startup) {
        printf("%d\n%d\n%d\n%s\n", port, srv.actual_web_port, (int)getpid(), cfg->bind);
        fflush(stdout);
        fclose(stdout);
        if (open("/dev/null", O_WRONLY) != STDOUT_FILENO)
            fatal("reopening stdout");
    } else {
        printf("nwsserver ready: port=%d web-port=%s bind=%s pid=%d auth=%s\n", port,
               web_port, cfg->bind, (int)getpid(), auth_enabled() ? "on" : "off");
        fflush(stdout);
    }
    /* Type=notify: the ports are listening, so clients may come (notify.c). */
    {
        char state[128];

        snprintf(state, sizeof(state), "READY=1\nMAINPID=%d\nSTATUS=serving port %d",
                 (int)getpid(), port);
        if (notify_send(state) > 0)
            unsetenv("NOTIFY_SOCKET");
    }
    if (cfg->daemon)
        main_daemon_detach(daemon_fd, cfg->log_level);
    log_info("nwsserver %s listening on %s port %d, authentication %s (secret: %s)",
             NWS_VERSION, cfg->bind, port, auth_enabled() ? "on" : "OFF", auth_source());

    if ((srv.base = event_base_new()) == NULL)
        fatalx("event_base_new");
    journal_start();
    sleigh_start(); /* timers of the sleighs the replay made */
    if (listen_start(fd) != 0)
        fatalx("cannot start the listener");
    if (web_fd != -1 && web_start(web_fd) != 0)
        fatalx("cannot start the web interface");
    sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, NULL);
    sigint = evsignal_new(srv.base, SIGINT, signal_cb, NULL);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);

    /* One turn of the loop at a time: the replies it made are written after it. */
    while (event_base_loop(srv.base, EVLOOP_ONCE) == 0 &&
           !event_base_got_exit(srv.base)) {
        /* Records are written (and synced) before the replies leave. */
        if (journal_turn_end() == 0)
            conn_flush_pending();
    }

    listen_stop();
    web_stop();
    journal_stopping(); /* what the conns hold (sessions' values) stays in DIR */
    conn_shutdown_all();
    journal_close(); /* the workspaces' state stays in the journal */
    ws_shutdown();
    event_free(sigterm);
    event_free(sigint);
    event_base_free(srv.base);
    tls_shutdown();
    free(srv.advert);
    tmpfiles_remove_suffix();
    if (cfg->pidfile != NULL)
        unlink(cfg->pidfile);
    log_info("stopped");
    return 0;
}
