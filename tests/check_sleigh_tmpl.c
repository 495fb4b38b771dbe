/*
 * check_sleigh_tmpl.c -- the sleigh command's placeholders (sleigh/cli/tmpl.c)
 * called directly: each case compiles a command as sleigh does and fills it
 * for its elements.  The expected lines are what `sleigh --dry-run` printed
 * for the same command line before the CLI was split into files, so these
 * pin today's behaviour; check_sleigh_cli's dry_run_placeholders stays the
 * end-to-end check.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "nwstest.h"
#include "sl.h"

/*
 * What `sleigh --dry-run [-q|--shell] ARGV...` prints (shell: enum
 * sl_shell_mode), with the worker rank rank (-1: unknown, as --dry-run
 * shows it).  argv is the command and its input sources, NULL-terminated.
 * New string.
 */
static char *
tm_dry_o(struct sl_opts *o, long jobs, int rank, const char *const *argv)
{
    struct sl_input    in;
    struct sl_tmpl     t;
    struct sl_buf      line = {0}, out = {0}, *bufs;
    const char *const *args;
    char             **texts;
    int                argc, ncmd;
    size_t             idx, i, nargs;

    for (argc = 0; argv[argc] != NULL; argc++)
        ;
    o->delim = '\n';
    ck_assert_int_eq(sl_input_parse(&in, o, argc, (char **)argv, 0, &ncmd), 0);
    ck_assert_msg(!in.streaming, "a case without input sources would read stdin");
    ck_assert_int_eq(sl_input_shape(&in, o), 0);
    ck_assert_int_eq(sl_input_plan(&in), 0);
    sl_tmpl_set_names(in.names, in.nnames);
    sl_tmpl_compile(&t, (char **)argv, (size_t)ncmd, sl_input_tmpl_nsrc(&in), o->shell,
                    o->xmode == SL_X_CONTEXT ? SL_V_CONTEXT
                    : sl_input_vmode(&in)    ? SL_V_ANY
                                             : SL_V_FIXED);
    sl_input_pack(&in, &t, jobs,
                  o->max_chars > 0 ? (size_t)o->max_chars : SL_MAX_CHARS_DEFAULT);
    bufs = calloc(t.nslots + 1, sizeof(*bufs));
    texts = calloc(t.nslots + 1, sizeof(*texts));
    ck_assert(bufs != NULL && texts != NULL);
    sl_buf_add(&out, "", 0);
    for (idx = 0; idx < in.total; idx++) {
        nargs = sl_input_args(&in, idx, &args);
        for (i = 0; i < t.nslots; i++) {
            if (t.slots[i].fixed) {
                texts[i] = t.slots[i].text;
                continue;
            }
            sl_slot_fill(&t.slots[i], args, nargs, idx, &bufs[i]);
            texts[i] = bufs[i].p;
        }
        sl_tmpl_display(&t, texts, rank, &line);
        sl_buf_add(&out, line.p, line.len);
        sl_buf_add(&out, "\n", 1);
    }
    for (i = 0; i < t.nslots; i++)
        free(bufs[i].p);
    free(bufs);
    free(texts);
    free(line.p);
    sl_tmpl_free(&t);
    sl_tmpl_set_names(NULL, 0);
    sl_input_free(&in);
    return out.p;
}

static char *
tm_dry(int shell, int rank, const char *const *argv)
{
    struct sl_opts o;

    memset(&o, 0, sizeof(o));
    o.shell = shell;
    o.max_args = -1;
    return tm_dry_o(&o, 1, rank, argv);
}

/* Asserts that the command line argv (NULL-terminated) shows as want. */
#define TM_DRY(shell, rank, want, ...)                                                   \
    do {                                                                                 \
        const char *tm_argv_[] = {__VA_ARGS__, NULL};                                    \
        char       *tm_got_ = tm_dry((shell), (rank), tm_argv_);                         \
                                                                                         \
        ck_assert_msg(strcmp(tm_got_, (want)) == 0, "got [%s], want [%s]", tm_got_,      \
                      (want));                                                           \
        free(tm_got_);                                                                   \
    } while (0)

#define AUTO  SL_SHELL_AUTO
#define NEVER SL_SHELL_NEVER
#define SHELL SL_SHELL_ALWAYS

START_TEST(input_and_modifiers)
{
    TM_DRY(AUTO, -1, "echo a/b.c\n", "echo", "{}", ":::", "a/b.c");
    TM_DRY(AUTO, -1, "echo a/b\necho dir.x/file\n", "echo", "{.}", ":::", "a/b.c",
           "dir.x/file");
    TM_DRY(AUTO, -1, "echo b.c\necho x\necho plain\n", "echo", "{/}", ":::", "a/b.c",
           "/x", "plain");
    TM_DRY(AUTO, -1, "echo a\necho /\necho .\n", "echo", "{//}", ":::", "a/b.c", "/x",
           "plain");
    TM_DRY(AUTO, -1, "echo b.c\necho file\n", "echo", "{/.}", ":::", "a/b.c.d",
           "dir.x/file");
}
END_TEST

START_TEST(numbered_sources)
{
    TM_DRY(AUTO, -1, "echo a x\necho a y\necho b x\necho b y\n", "echo", "{1}", "{2}",
           ":::", "a", "b", ":::", "x", "y");
    TM_DRY(AUTO, -1, "echo e/g.tar f.txt d g.tar\n", "echo", "{2.}", "{1/}", "{1//}",
           "{2/.}", ":::", "d/f.txt", ":::", "e/g.tar.gz");
    /* Inside a word, with {#}: one slot mixing text, sequence and input. */
    TM_DRY(AUTO, -1, "echo x1-f.tar\necho x2-e\n", "echo", "x{#}-{1/.}",
           ":::", "d/f.tar.gz", "e");
}
END_TEST

START_TEST(seq_and_rank)
{
    TM_DRY(AUTO, -1, "echo 1 a\necho 2 b\necho 3 c\n", "echo", "{#}", "{}", ":::", "a",
           "b", "c");
    /* The rank is known only on the worker: --dry-run shows {%}. */
    TM_DRY(AUTO, -1, "echo '{%}' a\necho '{%}' b\n", "echo", "{%}", "{}", ":::", "a",
           "b");
    TM_DRY(NEVER, -1, "echo '{%}' 'x{%}y'\n", "echo", "{%}", "x{%}y", ":::", "a");
    TM_DRY(SHELL, -1, "echo {%}\n", "echo", "{%}", ":::", "a");
    /* What the joblog and -v show, once the worker's rank is known. */
    TM_DRY(AUTO, 2, "echo 3 a\necho 3 b\n", "echo", "{%}", "{}", ":::", "a", "b");
    TM_DRY(NEVER, 0, "echo 1 x1y\n", "echo", "{%}", "x{%}y", ":::", "a");
}
END_TEST

START_TEST(no_placeholder)
{
    /* The inputs are appended, one word per source. */
    TM_DRY(AUTO, -1, "echo a\necho b\necho c\n", "echo", ":::", "a", "b", "c");
    TM_DRY(AUTO, -1, "echo pre a x\necho pre a y\necho pre b x\necho pre b y\n", "echo",
           "pre", ":::", "a", "b", ":::", "x", "y");
    /* No command at all: each input is a command line for /bin/sh, as it is. */
    TM_DRY(AUTO, -1, "echo hi\nls 'x'\n", ":::", "echo hi", "ls 'x'");
}
END_TEST

START_TEST(quoting)
{
    TM_DRY(AUTO, -1, "echo 'it'\"'\"'s'\necho 'a b'\n", "echo", "{}", ":::", "it's",
           "a b");
    TM_DRY(AUTO, -1, "echo 'xit'\"'\"'sy'\necho 'xa by'\n", "echo", "x{}y", ":::", "it's",
           "a b");
    TM_DRY(AUTO, -1, "echo ''\necho 'a$b'\n", "echo", "{}", ":::", "", "a$b");
    TM_DRY(NEVER, -1, "echo 'a b'\necho 'it'\"'\"'s'\necho ''\n", "echo", "{}",
           ":::", "a b", "it's", "");
    TM_DRY(NEVER, -1, "cp 'a b.txt' 'a b.bak'\n", "cp", "{}", "{.}.bak",
           ":::", "a b.txt");
}
END_TEST

START_TEST(shell_words)
{
    /* Shell syntax in a word: the words are joined for /bin/sh, inputs quoted. */
    TM_DRY(AUTO, -1, "echo a|b 'it'\"'\"'s'\n", "echo", "a|b", "{}", ":::", "it's");
    /* -q: never a shell, so the word is quoted for display only. */
    TM_DRY(NEVER, -1, "echo 'a|b' 'it'\"'\"'s'\n", "echo", "a|b", "{}", ":::", "it's");
    TM_DRY(SHELL, -1, "echo 'a b'\n", "echo", "{}", ":::", "a b");
    TM_DRY(AUTO, -1, "X=1 echo a\n", "X=1", "echo", "{}", ":::", "a");
    TM_DRY(AUTO, -1, "sh -c echo $0 'a b'\n", "sh", "-c", "echo $0", "{}", ":::", "a b");

    ck_assert_int_eq(sl_word_needs_shell("a|b", 1, 0), 1);
    ck_assert_int_eq(sl_word_needs_shell("$HOME", 1, 0), 1);
    ck_assert_int_eq(sl_word_needs_shell("it's", 1, 0), 1);
    ck_assert_int_eq(sl_word_needs_shell("*.c", 1, 0), 1);
    ck_assert_int_eq(sl_word_needs_shell("!", 1, 0), 1);
    ck_assert_int_eq(sl_word_needs_shell("{", 1, 0), 1);
    ck_assert_int_eq(sl_word_needs_shell("}", 1, 0), 1);
    /* An assignment only as the first word. */
    ck_assert_int_eq(sl_word_needs_shell("X=1", 1, 1), 1);
    ck_assert_int_eq(sl_word_needs_shell("X=1", 1, 0), 0);
    /* Placeholders are not shell syntax; literal braces around no placeholder neither. */
    ck_assert_int_eq(sl_word_needs_shell("x{1}y{#}{%}{/.}", 1, 0), 0);
    ck_assert_int_eq(sl_word_needs_shell("{7}", 1, 0), 0);
    ck_assert_int_eq(sl_word_needs_shell("a.b/c-d_e:f,g@h%i+j", 1, 0), 0);
}
END_TEST

START_TEST(literal_braces)
{
    /* {7} with one source is text (GNU parallel's rule); main() warns. */
    TM_DRY(AUTO, -1, "echo '{7}' a\n", "echo", "{7}", ":::", "a");
    /* "{" and "}" as words are shell syntax; {{}} keeps its outer braces. */
    TM_DRY(AUTO, -1, "echo { } {a}\n", "echo", "{", "}", "{{}}", ":::", "a");
}
END_TEST

START_TEST(placeholder_parse)
{
    struct sl_seg seg;

    ck_assert_uint_eq(sl_placeholder("{}", 1, &seg), 2);
    ck_assert_int_eq(seg.kind, SL_SEG_INPUT);
    ck_assert_uint_eq(seg.src, 0);
    ck_assert_uint_eq(sl_placeholder("{2/.}x", 2, &seg), 5);
    ck_assert_int_eq(seg.kind, SL_SEG_INPUT);
    ck_assert_uint_eq(seg.src, 2);
    ck_assert_int_eq(seg.mod, SL_MOD_BASE_NOEXT);
    ck_assert_uint_eq(sl_placeholder("{//}", 1, &seg), 4);
    ck_assert_int_eq(seg.mod, SL_MOD_DIR);
    ck_assert_uint_eq(sl_placeholder("{#}", 1, &seg), 3);
    ck_assert_int_eq(seg.kind, SL_SEG_SEQ);
    ck_assert_uint_eq(sl_placeholder("{%}", 1, &seg), 3);
    ck_assert_int_eq(seg.kind, SL_SEG_RANK);
    /* Out of range, unknown modifier, unclosed, not at a brace: no placeholder. */
    ck_assert_uint_eq(sl_placeholder("{7}", 1, &seg), 0);
    ck_assert_uint_eq(sl_placeholder("{7}", SIZE_MAX, &seg), 3);
    ck_assert_uint_eq(sl_placeholder("{x}", 1, &seg), 0);
    ck_assert_uint_eq(sl_placeholder("{0}", 1, &seg), 0);
    ck_assert_uint_eq(sl_placeholder("{1", 1, &seg), 0);
    ck_assert_uint_eq(sl_placeholder("x{}", 1, &seg), 0);
}
END_TEST

START_TEST(several_sources)
{
    /* A word that is only {} gives one word per source. */
    TM_DRY(AUTO, -1, "echo a b a b\n", "echo", "{}", "{}", ":::", "a", ":::", "b");
    TM_DRY(AUTO, -1, "cp a c a c\ncp b c b c\n", "cp", "{}", "{}", ":::", "a", "b",
           ":::", "c");
    /* Linked sources go together, stopping at the shorter one (GNU parallel
     * 20221122: :::+ does not wrap). */
    TM_DRY(AUTO, -1, "echo a x\necho b y\n", "echo", "{1}", "{2}", ":::", "a", "b",
           ":::+", "x", "y", "z");
    TM_DRY(AUTO, -1, "echo a x\n", "echo", "{}", ":::", "a", ":::+", "x", "y");
}
END_TEST

START_TEST(slot_fill)
{
    const char    *cmd[] = {"echo", "x{#}-{1/.}", "{2}"};
    const char    *args[] = {"d/f.tar.gz", "it's"};
    struct sl_tmpl t;
    struct sl_buf  b = {0};

    sl_tmpl_compile(&t, (char **)cmd, 3, 2, SL_SHELL_AUTO, SL_V_FIXED);
    ck_assert_int_eq(t.shell, 0);
    ck_assert_uint_eq(t.nwords, 3);
    ck_assert_uint_eq(t.nvar, 2);
    /* The varying slots come first: x{#}-{1/.} is argument 1, {2} argument 2. */
    ck_assert_int_eq(t.slots[t.words[1].pieces[0]].fixed, 0);
    ck_assert_uint_eq(t.slots[t.words[1].pieces[0]].argno, 1);
    sl_slot_fill(&t.slots[t.words[1].pieces[0]], args, 2, 6, &b);
    ck_assert_str_eq(b.p, "x7-f.tar");
    /* Not a shell: the input goes as it is, unquoted. */
    sl_slot_fill(&t.slots[t.words[2].pieces[0]], args, 2, 0, &b);
    ck_assert_str_eq(b.p, "it's");
    ck_assert_int_eq(t.slots[t.words[0].pieces[0]].fixed, 1);
    ck_assert_str_eq(t.slots[t.words[0].pieces[0]].text, "echo");
    ck_assert_uint_eq(t.slots[t.words[0].pieces[0]].argno, 3);
    free(b.p);
    sl_tmpl_free(&t);
}
END_TEST

/* The task record of a compiled template, compact with sorted keys (new). */
static char *
tm_task(const char *const *cmd, size_t ncmd, size_t nsrc, int shell,
        const struct sl_opts *o, char **fixed_text)
{
    struct sl_tmpl t;
    json_t        *task, *fixed;
    char          *s;

    sl_tmpl_compile(&t, (char **)cmd, ncmd, nsrc, shell, SL_V_FIXED);
    task = sl_tmpl_task(&t, o, &fixed);
    ck_assert(task != NULL && fixed != NULL);
    s = json_dumps(task, JSON_COMPACT | JSON_SORT_KEYS);
    *fixed_text = json_dumps(fixed, JSON_COMPACT);
    json_decref(task);
    json_decref(fixed);
    sl_tmpl_free(&t);
    return s;
}

START_TEST(task_record)
{
    const char    *plain[] = {"echo", "x{}y", "{%}"};
    const char    *shell[] = {"echo", "a|b", "{}"};
    struct sl_opts o;
    char          *task, *fixed;

    memset(&o, 0, sizeof(o));
    o.max_output = -1;
    /* Varying slots are {1}..., fixed ones follow; {%} stays for the worker. */
    task = tm_task(plain, 3, 1, SL_SHELL_AUTO, &o, &fixed);
    ck_assert_str_eq(
        task,
        "{\"argv\":[\"{2}\",\"{1}\",\"{%}\"],\"kind\":\"command\",\"spill\":65536}");
    ck_assert_str_eq(fixed, "[\"echo\"]");
    free(task);
    free(fixed);

    o.timeout = 1.5;
    o.max_output = 1024;
    task = tm_task(shell, 3, 1, SL_SHELL_AUTO, &o, &fixed);
    ck_assert_str_eq(task, "{\"argv\":[\"{2}\",\"{3}\",\"{1}\"],\"kind\":\"command\","
                           "\"max_output\":1024,\"spill\":65536,\"timeout\":1.5}");
    ck_assert_str_eq(fixed, "[\"/bin/sh\",\"-c\"]");
    free(task);
    free(fixed);
}
END_TEST

/* Asserts what sleigh --dry-run OPTS... shows, o set up by the caller, jobs workers. */
#define TM_DRY_O(o, jobs, want, ...)                                                     \
    do {                                                                                 \
        const char *tm_argv_[] = {__VA_ARGS__, NULL};                                    \
        char       *tm_got_ = tm_dry_o((o), (jobs), -1, tm_argv_);                       \
                                                                                         \
        ck_assert_msg(strcmp(tm_got_, (want)) == 0, "got [%s], want [%s]", tm_got_,      \
                      (want));                                                           \
        free(tm_got_);                                                                   \
    } while (0)

/* A fresh set of options: no shaping. */
static struct sl_opts *
tm_opts(struct sl_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_args = -1;
    return o;
}

START_TEST(link_wraps)
{
    struct sl_opts o;

    /* --link wraps the shorter sources (GNU parallel 20221122 does). */
    tm_opts(&o)->link = 1;
    TM_DRY_O(&o, 1, "echo a 1\necho b 2\necho c 1\n", "echo", ":::", "a", "b", "c",
             ":::", "1", "2");
}
END_TEST

START_TEST(max_args)
{
    struct sl_opts o;

    tm_opts(&o)->max_args = 2;
    TM_DRY_O(&o, 1, "echo a b\necho c d\necho e\n", "echo", ":::", "a", "b", "c", "d",
             "e");
    TM_DRY_O(&o, 1, "echo a-b\necho c-\n", "echo", "{1}-{2}", ":::", "a", "b", "c");
    TM_DRY_O(&o, 1, "echo 1 a 'b c'\necho 2 d\n", "echo", "{#}", "{}", ":::", "a", "b c",
             "d");
    /* -q: the command's own words are quoted too, a shell line being forced. */
    o.shell = SL_SHELL_NEVER;
    TM_DRY_O(&o, 1, "printf '<%s>' 'a b' c\n", "printf", "<%s>", ":::", "a b", "c");
    tm_opts(&o)->max_args = 0;
    TM_DRY_O(&o, 1, "echo x\necho x\n", "echo", "x", ":::", "a", "b");
}
END_TEST

START_TEST(xargs_modes)
{
    struct sl_opts o;

    /* As many as fit, then spread over the workers (ceil(n / jobs) each). */
    tm_opts(&o)->xmode = SL_X_CONTEXT;
    TM_DRY_O(&o, 2, "echo preapost prebpost\necho precpost\n", "echo", "pre{}post",
             ":::", "a", "b", "c");
    TM_DRY_O(&o, 1, "echo preapost prebpost precpost\n", "echo", "pre{}post", ":::", "a",
             "b", "c");
    tm_opts(&o)->xmode = SL_X_MULTI;
    TM_DRY_O(&o, 2, "echo prea bpost\necho precpost\n", "echo", "pre{}post", ":::", "a",
             "b", "c");
    TM_DRY_O(&o, 4, "echo 1 2\necho 3 4\necho 5\n", "echo", ":::", "1", "2", "3", "4",
             "5");
    /* -s: the length of a command line, + 1, at most (as GNU parallel counts). */
    o.max_chars = 12;
    TM_DRY_O(&o, 1, "echo 1 2 3\necho 4 5 6\necho 7 8 9\necho 10 11\necho 12\n", "echo",
             ":::", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12");
    tm_opts(&o)->xmode = SL_X_CONTEXT;
    o.max_chars = 14;
    TM_DRY_O(&o, 1, "echo x1y x2y\necho x3y x4y\necho x5y\n", "echo", "x{}y", ":::", "1",
             "2", "3", "4", "5");
}
END_TEST

START_TEST(colsep_header)
{
    struct sl_opts o;

    tm_opts(&o)->colsep = ",+";
    TM_DRY_O(&o, 1, "echo b-a-\necho d-c-\n", "echo", "{2}-{1}-{3}", ":::", "a,b",
             "c,,d");
    TM_DRY_O(&o, 1, "echo a b\necho c\n", "echo", ":::", "a,b", "c");
    o.header = 1;
    TM_DRY_O(&o, 1, "echo 2 1\necho 4 3\n", "echo", "{y}", "{x}", ":::", "x,y", "1,2",
             "3,4");
    tm_opts(&o)->header = 1;
    TM_DRY_O(&o, 1, "echo a 1\necho a 2\n", "echo", "{f1}", "{f2}", ":::", "f1", "a",
             ":::", "f2", "1", "2");
}
END_TEST

NWSTEST_SUITE(sleigh_tmpl)
{
    Suite *s = suite_create("sleigh_tmpl");
    TCase *tc = tcase_create("placeholders");

    tcase_add_test(tc, input_and_modifiers);
    tcase_add_test(tc, numbered_sources);
    tcase_add_test(tc, seq_and_rank);
    tcase_add_test(tc, no_placeholder);
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, shell_words);
    tcase_add_test(tc, literal_braces);
    tcase_add_test(tc, placeholder_parse);
    tcase_add_test(tc, several_sources);
    tcase_add_test(tc, slot_fill);
    tcase_add_test(tc, task_record);
    tcase_add_test(tc, link_wraps);
    tcase_add_test(tc, max_args);
    tcase_add_test(tc, xargs_modes);
    tcase_add_test(tc, colsep_header);
    suite_add_tcase(s, tc);
    return s;
}
