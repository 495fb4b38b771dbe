/*
 * journal_fmt.c -- the journal's record format (see journal.h): CRC32C,
 * building records (jrec_*) and reading their fields back (jr_*).
 *
 * CRC32C (Castagnoli), the checksum of iSCSI, ext4 and Kafka, table-driven
 * one byte at a time with slicing by 8 for speed; no zlib.  A reader never
 * trusts a length: every field read checks it against what is left, and a
 * short or bad field sets r->bad instead of reading past the record.
 */
#include <stdlib.h>
#include <string.h>

#include "journal.h"

static uint32_t journal_crc_tab[8][256];
static int      journal_crc_ready;

/* Builds the tables of the reflected polynomial 0x82F63B78. */
static void
journal_crc_init(void)
{
    uint32_t c;
    int      i, k;

    for (i = 0; i < 256; i++) {
        c = (uint32_t)i;
        for (k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        journal_crc_tab[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++)
            journal_crc_tab[k][i] = (journal_crc_tab[k - 1][i] >> 8) ^
                                    journal_crc_tab[0][journal_crc_tab[k - 1][i] & 0xff];
    journal_crc_ready = 1;
}

#if defined(__x86_64__)
/* The same with SSE 4.2's crc32 instruction (the same polynomial), 8 bytes a step. */
__attribute__((target("sse4.2"))) static uint32_t
journal_crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = ~crc, w;

    while (n >= 8) {
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

/* Extends crc (0 to start) over n bytes. */
uint32_t
journal_crc32c(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint32_t       lo, hi;

#if defined(__x86_64__)
    static int hw = -1;

    if (hw < 0)
        hw = __builtin_cpu_supports("sse4.2") && getenv("NWS_JOURNAL_SOFT_CRC") == NULL;
    if (hw)
        return journal_crc32c_hw(crc, p, n);
#endif
    if (!journal_crc_ready)
        journal_crc_init();
    crc = ~crc;
    while (n >= 8) {
        lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24);
        hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
             (uint32_t)p[7] << 24;
        crc = journal_crc_tab[7][lo & 0xff] ^ journal_crc_tab[6][(lo >> 8) & 0xff] ^
              journal_crc_tab[5][(lo >> 16) & 0xff] ^ journal_crc_tab[4][lo >> 24] ^
              journal_crc_tab[3][hi & 0xff] ^ journal_crc_tab[2][(hi >> 8) & 0xff] ^
              journal_crc_tab[1][(hi >> 16) & 0xff] ^ journal_crc_tab[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = journal_crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Makes room for n more bytes. */
static void
jrec_room(struct jrec *r, size_t n)
{
    size_t cap;

    if (r->len + n <= r->cap)
        return;
    cap = r->cap ? r->cap : 256;
    while (cap < r->len + n)
        cap *= 2;
    r->buf = xrealloc(r->buf, cap);
    r->cap = cap;
}

/* Starts a record of type (the header's length and checksum come at emit). */
void
jrec_begin(struct jrec *r, uint8_t type)
{
    r->len = 0;
    jrec_room(r, JOURNAL_HDR);
    memset(r->buf, 0, JOURNAL_HDR - 1);
    r->buf[JOURNAL_HDR - 1] = type;
    r->len = JOURNAL_HDR;
}

void
jrec_u8(struct jrec *r, uint8_t v)
{
    jrec_room(r, 1);
    r->buf[r->len++] = v;
}

void
jrec_u32(struct jrec *r, uint32_t v)
{
    int i;

    jrec_room(r, 4);
    for (i = 0; i < 4; i++)
        r->buf[r->len++] = (uint8_t)(v >> (8 * i));
}

void
jrec_u64(struct jrec *r, uint64_t v)
{
    int i;

    jrec_room(r, 8);
    for (i = 0; i < 8; i++)
        r->buf[r->len++] = (uint8_t)(v >> (8 * i));
}

/* A length (u32) and the bytes. */
void
jrec_str(struct jrec *r, const void *p, size_t n)
{
    jrec_u32(r, (uint32_t)n);
    jrec_room(r, n);
    if (n > 0)
        memcpy(r->buf + r->len, p, n);
    r->len += n;
}

void
jrec_free(struct jrec *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

/* Puts v little endian at p. */
static void
journal_put32(uint8_t *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Fills the header of a finished record: length, checksum, header checksum. */
void
jrec_seal(struct jrec *r)
{
    journal_put32(r->buf, (uint32_t)(r->len - JOURNAL_RECHDR));
    journal_put32(r->buf + 4,
                  journal_crc32c(0, r->buf + JOURNAL_RECHDR, r->len - JOURNAL_RECHDR));
    journal_put32(r->buf + 8, journal_crc32c(0, r->buf, 8));
}

/* Reads a little-endian u32 at p. */
uint32_t
journal_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* n bytes of r, or NULL (bad) if fewer are left. */
static const uint8_t *
jr_take(struct jreader *r, size_t n)
{
    const uint8_t *p;

    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t
jr_u8(struct jreader *r)
{
    const uint8_t *p = jr_take(r, 1);

    return p ? p[0] : 0;
}

uint32_t
jr_u32(struct jreader *r)
{
    const uint8_t *p = jr_take(r, 4);

    return p ? journal_le32(p) : 0;
}

uint64_t
jr_u64(struct jreader *r)
{
    const uint8_t *p = jr_take(r, 8);

    return p ? (uint64_t)journal_le32(p) | (uint64_t)journal_le32(p + 4) << 32 : 0;
}

/* A length-prefixed string, borrowed from the record; NULL if bad. */
const void *
jr_str(struct jreader *r, size_t *len)
{
    uint32_t       n = jr_u32(r);
    const uint8_t *p = jr_take(r, n);

    *len = p ? n : 0;
    return p ? p : (r->bad ? NULL : (const void *)"");
}

/*
 * Checks the record at buf[off..size): JREC_OK with *reclen (header
 * included); JREC_TORN if fewer bytes than a header are left, or a valid
 * header's record runs past size; JREC_BADHDR if the header's checksum is
 * wrong; JREC_BAD if the record's is (*reclen set: the record is whole).
 */
int
journal_rec_check(const uint8_t *buf, size_t size, size_t off, size_t *reclen)
{
    uint32_t len;

    if (size - off < JOURNAL_RECHDR)
        return JREC_TORN;
    if (journal_crc32c(0, buf + off, 8) != journal_le32(buf + off + 8))
        return JREC_BADHDR;
    len = journal_le32(buf + off);
    if (len == 0 || len > JOURNAL_MAX_REC)
        return JREC_BADHDR;
    if (size - off - JOURNAL_RECHDR < len)
        return JREC_TORN;
    *reclen = JOURNAL_RECHDR + (size_t)len;
    if (journal_crc32c(0, buf + off + JOURNAL_RECHDR, len) != journal_le32(buf + off + 4))
        return JREC_BAD;
    return JREC_OK;
}
