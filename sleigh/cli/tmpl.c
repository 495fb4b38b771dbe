/*
 * tmpl.c -- the sleigh command's command template: placeholders ({} {.}
 * {/} {//} {/.} {#} {%} {N...}) parsed from the command words, compiled
 * into output words of slots, filled per element in the master, shown to
 * people (joblog, -v, --dry-run) and turned into the task record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl.h"

/* --header: the names {name} stands for (argument name i is {i+1}). */
static char *const *sl_names;
static size_t       sl_nnames;

void
sl_tmpl_set_names(char *const *names, size_t n)
{
    sl_names = names;
    sl_nnames = n;
}

/*
 * Matches a placeholder at p ("{...}"): returns its length and fills
 * *seg, or 0 if p does not start one.  nsrc: sources there are, for {N}.
 */
size_t
sl_placeholder(const char *p, size_t nsrc, struct sl_seg *seg)
{
    static const struct {
        const char *name;
        int         mod;
    } mods[] = {{"", SL_MOD_NONE},
                {".", SL_MOD_NOEXT},
                {"/", SL_MOD_BASE},
                {"//", SL_MOD_DIR},
                {"/.", SL_MOD_BASE_NOEXT}};
    const char *q = p + 1, *close;
    size_t      n = 0, i;

    if (*p != '{' || (close = strchr(p, '}')) == NULL)
        return 0;
    memset(seg, 0, sizeof(*seg));
    if (close == p + 2 && (p[1] == '#' || p[1] == '%')) {
        seg->kind = p[1] == '#' ? SL_SEG_SEQ : SL_SEG_RANK;
        return 3;
    }
    if (*q >= '1' && *q <= '9') {
        while (*q >= '0' && *q <= '9') {
            if (n > 100000)
                return 0;
            n = n * 10 + (size_t)(*q - '0');
            q++;
        }
        if (n > nsrc)
            return 0; /* no such source: literal text, as GNU parallel does */
    }
    for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
        if ((size_t)(close - q) == strlen(mods[i].name) &&
            strncmp(q, mods[i].name, (size_t)(close - q)) == 0) {
            seg->kind = SL_SEG_INPUT;
            seg->src = n;
            seg->mod = mods[i].mod;
            return (size_t)(close - p) + 1;
        }
    }
    for (i = 0; n == 0 && i < sl_nnames; i++) {
        if ((size_t)(close - q) == strlen(sl_names[i]) &&
            strncmp(q, sl_names[i], (size_t)(close - q)) == 0) {
            seg->kind = SL_SEG_INPUT;
            seg->src = i + 1;
            return (size_t)(close - p) + 1;
        }
    }
    return 0;
}

/* Parses word into *segs (a new array, *nsegs); returns how many placeholders it has. */
static size_t
sl_word_parse(const char *word, size_t nsrc, struct sl_seg **segs, size_t *nsegs)
{
    const char   *p = word, *lit = word;
    struct sl_seg seg;
    size_t        n, found = 0;

    *segs = NULL;
    *nsegs = 0;
    while (*p != '\0') {
        if ((n = sl_placeholder(p, nsrc, &seg)) == 0) {
            p++;
            continue;
        }
        *segs = sl_reallocarray(*segs, *nsegs + 2, sizeof(**segs));
        if (p > lit) {
            memset(&(*segs)[*nsegs], 0, sizeof(**segs));
            (*segs)[*nsegs].kind = SL_SEG_TEXT;
            (*segs)[*nsegs].text = lit;
            (*segs)[(*nsegs)++].len = (size_t)(p - lit);
        }
        (*segs)[(*nsegs)++] = seg;
        found++;
        p += n;
        lit = p;
    }
    if (p > lit || *nsegs == 0) {
        *segs = sl_reallocarray(*segs, *nsegs + 1, sizeof(**segs));
        memset(&(*segs)[*nsegs], 0, sizeof(**segs));
        (*segs)[*nsegs].kind = SL_SEG_TEXT;
        (*segs)[*nsegs].text = lit;
        (*segs)[(*nsegs)++].len = (size_t)(p - lit);
    }
    return found;
}

/*
 * Returns 1 if the literal text of word (placeholders aside) has shell
 * syntax, so that /bin/sh would not see it as the one word it is.
 */
int
sl_word_needs_shell(const char *word, size_t nsrc, int first)
{
    struct sl_seg seg;
    const char   *p;
    size_t        n;

    if (strcmp(word, "!") == 0 || strcmp(word, "{") == 0 || strcmp(word, "}") == 0)
        return 1;
    for (p = word; *p != '\0'; p++) {
        if ((n = sl_placeholder(p, nsrc, &seg)) != 0) {
            p += n - 1;
            continue;
        }
        if (strchr(" \t\n|&;<>()$`\\\"'*?[]#~", *p) != NULL || (first && *p == '='))
            return 1;
    }
    return 0;
}

/* Adds an empty output word to t; returns it. */
static struct sl_oword *
sl_tmpl_word(struct sl_tmpl *t)
{
    t->words = sl_reallocarray(t->words, t->nwords + 1, sizeof(*t->words));
    memset(&t->words[t->nwords], 0, sizeof(*t->words));
    return &t->words[t->nwords++];
}

/* Adds piece (a slot index or SL_PIECE_RANK) to w. */
static void
sl_oword_add(struct sl_oword *w, size_t piece)
{
    w->pieces = sl_reallocarray(w->pieces, w->npieces + 1, sizeof(*w->pieces));
    w->pieces[w->npieces++] = piece;
}

/* Adds seg to the slot that w is filling, opening one if its last piece is not a slot. */
static void
sl_tmpl_add_seg(struct sl_tmpl *t, struct sl_oword *w, const struct sl_seg *seg)
{
    struct sl_slot *slot;

    if (seg->kind == SL_SEG_RANK) {
        sl_oword_add(w, SL_PIECE_RANK);
        return;
    }
    if (w->npieces == 0 || w->pieces[w->npieces - 1] == SL_PIECE_RANK) {
        t->slots = sl_reallocarray(t->slots, t->nslots + 1, sizeof(*t->slots));
        memset(&t->slots[t->nslots], 0, sizeof(*t->slots));
        sl_oword_add(w, t->nslots++);
    }
    slot = &t->slots[w->pieces[w->npieces - 1]];
    slot->segs = sl_reallocarray(slot->segs, slot->nsegs + 1, sizeof(*slot->segs));
    slot->segs[slot->nsegs++] = *seg;
}

/* Adds the literal s to the slot w is filling. */
static void
sl_tmpl_add_text(struct sl_tmpl *t, struct sl_oword *w, const char *s)
{
    struct sl_seg seg = {.kind = SL_SEG_TEXT, .text = s, .len = strlen(s)};

    sl_tmpl_add_seg(t, w, &seg);
}

/* Adds an input segment for source src (0: all) to the slot w is filling. */
static void
sl_tmpl_add_input(struct sl_tmpl *t, struct sl_oword *w, size_t src, int mod, int quote,
                  int raw)
{
    struct sl_seg seg = {
        .kind = SL_SEG_INPUT, .src = src, .mod = mod, .quote = quote, .raw = raw};

    sl_tmpl_add_seg(t, w, &seg);
}

/*
 * Compiles the command words cmd[0..ncmd-1] for nsrc input sources.
 * shell_mode: enum sl_shell_mode.  Fills *t.
 */
void
sl_tmpl_compile(struct sl_tmpl *t, char **cmd, size_t ncmd, size_t nsrc, int shell_mode,
                int vmode)
{
    struct sl_seg  **segs = sl_reallocarray(NULL, ncmd + 1, sizeof(*segs));
    size_t          *nsegs = sl_reallocarray(NULL, ncmd + 1, sizeof(*nsegs));
    size_t           i, j, s, found = 0, argno;
    struct sl_oword *w;
    struct sl_seg    seg;
    struct sl_buf    b;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < ncmd; i++)
        found += sl_word_parse(cmd[i], nsrc, &segs[i], &nsegs[i]);
    /* A varying number of arguments: words come and go, which a shell line
     * says (as GNU parallel always runs one). */
    t->shell = ncmd == 0 || shell_mode == SL_SHELL_ALWAYS || vmode != SL_V_FIXED;
    for (i = 0; shell_mode == SL_SHELL_AUTO && i < ncmd; i++)
        t->shell |= sl_word_needs_shell(cmd[i], nsrc, i == 0);

    if (t->shell) {
        sl_tmpl_add_text(t, sl_tmpl_word(t), "/bin/sh");
        sl_tmpl_add_text(t, sl_tmpl_word(t), "-c");
        w = sl_tmpl_word(t);
        if (ncmd == 0) {
            /* No command: the inputs are the command lines, as GNU parallel does. */
            sl_tmpl_add_input(t, w, 0, SL_MOD_NONE, 0, 1);
        }
        for (i = 0; i < ncmd; i++) {
            int xword = 0;

            if (i > 0)
                sl_tmpl_add_text(t, w, " ");
            for (j = 0; j < nsegs[i]; j++) {
                /* -q with a shell line forced: the command's words stay words. */
                segs[i][j].quote = segs[i][j].kind == SL_SEG_INPUT ||
                                   (segs[i][j].kind == SL_SEG_TEXT &&
                                    shell_mode == SL_SHELL_NEVER && segs[i][j].len > 0);
                if (segs[i][j].kind == SL_SEG_INPUT && segs[i][j].src == 0 &&
                    vmode == SL_V_CONTEXT)
                    xword = 1;
            }
            if (xword) {
                /* -X: the word is repeated for each argument (its segments kept). */
                memset(&seg, 0, sizeof(seg));
                seg.kind = SL_SEG_XWORD;
                seg.sub = segs[i];
                seg.nsub = nsegs[i];
                sl_tmpl_add_seg(t, w, &seg);
                t->keep = sl_reallocarray(t->keep, t->nkeep + 1, sizeof(*t->keep));
                t->keep[t->nkeep++] = segs[i];
                segs[i] = NULL;
                continue;
            }
            for (j = 0; j < nsegs[i]; j++)
                sl_tmpl_add_seg(t, w, &segs[i][j]);
        }
        if (ncmd > 0 && found == 0 && vmode != SL_V_FIXED) {
            /* Every argument of the element, each quoted after a space. */
            memset(&seg, 0, sizeof(seg));
            seg.kind = SL_SEG_INPUT;
            seg.quote = 1;
            seg.lead = 1;
            sl_tmpl_add_seg(t, w, &seg);
        }
        for (s = 1; ncmd > 0 && found == 0 && vmode == SL_V_FIXED && s <= nsrc; s++) {
            sl_tmpl_add_text(t, w, " ");
            sl_tmpl_add_input(t, w, s, SL_MOD_NONE, 1, 0);
        }
    } else {
        for (i = 0; i < ncmd; i++) {
            if (nsegs[i] == 1 && segs[i][0].kind == SL_SEG_INPUT && segs[i][0].src == 0) {
                /* A word that is only {} (or {.} ...) gives one word per source. */
                for (s = 1; s <= nsrc; s++)
                    sl_tmpl_add_input(t, sl_tmpl_word(t), s, segs[i][0].mod, 0, 0);
                continue;
            }
            w = sl_tmpl_word(t);
            for (j = 0; j < nsegs[i]; j++)
                sl_tmpl_add_seg(t, w, &segs[i][j]);
        }
        for (s = 1; found == 0 && s <= nsrc; s++)
            sl_tmpl_add_input(t, sl_tmpl_word(t), s, SL_MOD_NONE, 0, 0);
    }
    for (i = 0; i < ncmd; i++)
        free(segs[i]);
    free(segs);
    free(nsegs);

    /* Number the slots: varying ones first (element arguments), then fixed ones. */
    for (i = 0; i < t->nslots; i++) {
        t->slots[i].fixed = 1;
        for (j = 0; j < t->slots[i].nsegs; j++)
            if (t->slots[i].segs[j].kind != SL_SEG_TEXT)
                t->slots[i].fixed = 0;
        if (!t->slots[i].fixed)
            t->slots[i].argno = ++t->nvar;
    }
    argno = t->nvar;
    for (i = 0; i < t->nslots; i++) {
        if (!t->slots[i].fixed)
            continue;
        t->slots[i].argno = ++argno;
        memset(&b, 0, sizeof(b));
        sl_buf_add(&b, "", 0);
        for (j = 0; j < t->slots[i].nsegs; j++) {
            if (t->slots[i].segs[j].quote)
                sl_buf_add_word(&b, t->slots[i].segs[j].text, t->slots[i].segs[j].len);
            else
                sl_buf_add(&b, t->slots[i].segs[j].text, t->slots[i].segs[j].len);
        }
        t->slots[i].text = b.p;
    }
}

/*
 * --pipe: the argument after the varying ones names the value the worker
 * feeds to the command's stdin; the fixed arguments move up one.
 */
void
sl_tmpl_pipe(struct sl_tmpl *t)
{
    size_t i;

    t->stdin_arg = t->nvar + 1;
    for (i = 0; i < t->nslots; i++)
        if (t->slots[i].fixed)
            t->slots[i].argno++;
}

/* Frees what t holds. */
void
sl_tmpl_free(struct sl_tmpl *t)
{
    size_t i;

    for (i = 0; i < t->nwords; i++)
        free(t->words[i].pieces);
    free(t->words);
    for (i = 0; i < t->nslots; i++) {
        free(t->slots[i].segs);
        free(t->slots[i].text);
    }
    free(t->slots);
    for (i = 0; i < t->nkeep; i++)
        free(t->keep[i]);
    free(t->keep);
}

/* The part of s (n bytes) that modifier mod keeps: *start, *len. */
static void
sl_modify(const char *s, size_t n, int mod, const char **start, size_t *len)
{
    const char *slash = NULL, *dot = NULL, *p;

    for (p = s; p < s + n; p++) {
        if (*p == '/')
            slash = p;
        else if (*p == '.')
            dot = p;
    }
    if (dot != NULL && slash != NULL && dot < slash)
        dot = NULL;
    *start = s;
    *len = n;
    switch (mod) {
    case SL_MOD_NOEXT:
        if (dot != NULL)
            *len = (size_t)(dot - s);
        break;
    case SL_MOD_BASE:
    case SL_MOD_BASE_NOEXT:
        if (slash != NULL) {
            *start = slash + 1;
            *len = (size_t)(s + n - *start);
        }
        if (mod == SL_MOD_BASE_NOEXT && dot != NULL)
            *len = (size_t)(dot - *start);
        break;
    case SL_MOD_DIR:
        if (slash == NULL) {
            *start = ".";
            *len = 1;
        } else {
            *len = slash == s ? 1 : (size_t)(slash - s);
        }
        break;
    default:
        break;
    }
}

/* Appends input s of an element to b as seg says (modifier, quoting). */
static void
sl_seg_add_input(struct sl_buf *b, const struct sl_seg *seg, const char *s)
{
    const char *start;
    size_t      len;

    sl_modify(s, strlen(s), seg->mod, &start, &len);
    if (seg->quote)
        sl_buf_add_word(b, start, len);
    else
        sl_buf_add(b, start, len);
}

/*
 * Adds segments segs[0..nsegs-1] for element idx whose inputs are
 * args[0..nsrc-1] (an {N} past them is empty).  one: -X's argument for
 * the {} of the word repeated, or NULL.
 */
static void
sl_segs_fill(const struct sl_seg *segs, size_t nsegs, const char *const *args,
             size_t nsrc, size_t idx, const char *one, struct sl_buf *b)
{
    const struct sl_seg *seg;
    char                 num[32];
    size_t               i, s;

    for (i = 0; i < nsegs; i++) {
        seg = &segs[i];
        switch (seg->kind) {
        case SL_SEG_XWORD:
            for (s = 0; s < nsrc; s++) {
                if (s > 0)
                    sl_buf_add(b, " ", 1);
                sl_segs_fill(seg->sub, seg->nsub, args, nsrc, idx, args[s], b);
            }
            break;
        case SL_SEG_TEXT:
            if (seg->quote)
                sl_buf_add_word(b, seg->text, seg->len);
            else
                sl_buf_add(b, seg->text, seg->len);
            break;
        case SL_SEG_SEQ:
            snprintf(num, sizeof(num), "%zu", idx + 1);
            sl_buf_adds(b, num);
            break;
        case SL_SEG_INPUT:
            if (seg->src > 0) {
                if (seg->src <= nsrc) /* past the end (-N, --colsep): nothing */
                    sl_seg_add_input(b, seg, args[seg->src - 1]);
                break;
            }
            if (one != NULL) {
                sl_seg_add_input(b, seg, one);
                break;
            }
            for (s = 0; s < nsrc; s++) {
                if (s > 0 || seg->lead)
                    sl_buf_add(b, " ", 1);
                if (seg->raw)
                    sl_buf_adds(b, args[s]);
                else
                    sl_seg_add_input(b, seg, args[s]);
            }
            break;
        default:
            break;
        }
    }
}

/*
 * Fills b with slot's text for element idx (0-based) whose inputs are
 * args[0..nsrc-1].
 */
void
sl_slot_fill(const struct sl_slot *slot, const char *const *args, size_t nsrc, size_t idx,
             struct sl_buf *b)
{
    b->len = 0;
    sl_buf_add(b, "", 0);
    sl_segs_fill(slot->segs, slot->nsegs, args, nsrc, idx, NULL, b);
}

/* What one more argument adds besides its own text: a space per {} (-X, -m). */
size_t
sl_tmpl_nsep(const struct sl_tmpl *t)
{
    size_t i, j, n = 0;

    for (i = 0; i < t->nslots; i++)
        for (j = 0; j < t->slots[i].nsegs; j++)
            if (t->slots[i].segs[j].kind == SL_SEG_XWORD ||
                (t->slots[i].segs[j].kind == SL_SEG_INPUT &&
                 t->slots[i].segs[j].src == 0 && !t->slots[i].segs[j].lead))
                n++;
    return n;
}

/* The length of the command line of element idx with arguments args[0..nargs-1]. */
size_t
sl_tmpl_len(const struct sl_tmpl *t, const char *const *args, size_t nargs, size_t idx)
{
    struct sl_buf *bufs = sl_reallocarray(NULL, t->nslots + 1, sizeof(*bufs));
    char         **texts = sl_reallocarray(NULL, t->nslots + 1, sizeof(*texts));
    struct sl_buf  line = {0};
    size_t         i, len;

    memset(bufs, 0, (t->nslots + 1) * sizeof(*bufs));
    for (i = 0; i < t->nslots; i++) {
        if (t->slots[i].fixed) {
            texts[i] = t->slots[i].text;
            continue;
        }
        sl_slot_fill(&t->slots[i], args, nargs, idx, &bufs[i]);
        texts[i] = bufs[i].p;
    }
    sl_tmpl_display(t, texts, -1, &line);
    len = line.len;
    for (i = 0; i < t->nslots; i++)
        free(bufs[i].p);
    free(bufs);
    free(texts);
    free(line.p);
    return len;
}

/*
 * The command line of an element as a person reads it (joblog, -v,
 * --dry-run): texts[i] is the text of slot i, rank the worker's (-1:
 * unknown, shown as {%}).  Fills b.
 */
void
sl_tmpl_display(const struct sl_tmpl *t, char *const *texts, int rank, struct sl_buf *b)
{
    struct sl_buf word = {0};
    char          num[32];
    size_t        i, j, piece;

    b->len = 0;
    sl_buf_add(b, "", 0);
    for (i = t->shell ? 2 : 0; i < t->nwords; i++) {
        word.len = 0;
        sl_buf_add(&word, "", 0);
        for (j = 0; j < t->words[i].npieces; j++) {
            piece = t->words[i].pieces[j];
            if (piece != SL_PIECE_RANK) {
                sl_buf_adds(&word, texts[piece]);
            } else if (rank >= 0) {
                snprintf(num, sizeof(num), "%d", rank + 1);
                sl_buf_adds(&word, num);
            } else {
                sl_buf_adds(&word, "{%}");
            }
        }
        if (i > (t->shell ? 2u : 0u))
            sl_buf_add(b, " ", 1);
        if (t->shell)
            sl_buf_add(b, word.p, word.len);
        else
            sl_buf_add_word(b, word.p, word.len);
    }
    free(word.p);
}

/*
 * The task record: argv of "{N}" (slot N's text) and "{%}" pieces, plus
 * timeout, output limit and spill size.  A new reference, *fixed getting
 * the fixed arguments (new).
 */
json_t *
sl_tmpl_task(const struct sl_tmpl *t, const struct sl_opts *o, json_t **fixed)
{
    const char  **argv = sl_reallocarray(NULL, t->nwords + 1, sizeof(*argv));
    struct sl_buf b = {0};
    char        **words = sl_reallocarray(NULL, t->nwords + 1, sizeof(*words));
    char          num[32];
    size_t        i, j, piece;
    json_t       *task, *s;

    for (i = 0; i < t->nwords; i++) {
        b.len = 0;
        sl_buf_add(&b, "", 0);
        for (j = 0; j < t->words[i].npieces; j++) {
            piece = t->words[i].pieces[j];
            if (piece == SL_PIECE_RANK) {
                sl_buf_adds(&b, "{%}");
            } else {
                snprintf(num, sizeof(num), "{%zu}", t->slots[piece].argno);
                sl_buf_adds(&b, num);
            }
        }
        words[i] = sl_strdup(b.p);
        argv[i] = words[i];
    }
    argv[t->nwords] = NULL;
    free(b.p);
    if ((task = nws_sleigh_command(argv, 0)) == NULL)
        sl_nomem();
    for (i = 0; i < t->nwords; i++)
        free(words[i]);
    free(words);
    free(argv);
    if (o->timeout > 0 &&
        json_object_set_new(task, "timeout", json_real(o->timeout)) != 0)
        sl_nomem();
    /* Output of any size, streamed (sl_stream_*): see the output section. */
    if (json_object_set_new(task, "spill", json_integer(SL_SPILL)) != 0)
        sl_nomem();
    if (o->max_output >= 0 &&
        json_object_set_new(task, "max_output", json_integer(o->max_output)) != 0)
        sl_nomem();
    if (t->stdin_arg > 0 &&
        json_object_set_new(task, "stdin_arg", json_integer((json_int_t)t->stdin_arg)) !=
            0)
        sl_nomem();
    if ((*fixed = json_array()) == NULL)
        sl_nomem();
    for (i = 0; i < t->nslots; i++) {
        if (!t->slots[i].fixed)
            continue;
        /* Any bytes: nws_sleigh_bytes wraps those that are not UTF-8. */
        if ((s = nws_sleigh_bytes(t->slots[i].text, strlen(t->slots[i].text))) == NULL ||
            json_array_append_new(*fixed, s) != 0)
            sl_nomem();
    }
    return task;
}
