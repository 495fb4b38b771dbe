/*
 * frame.h -- the classic NetWorkSpaces wire format, on memory buffers.
 *
 * Shared by nwsserver and libnws.  Nothing here touches a socket or libevent:
 * every function works on bytes the caller already holds, so the codec can be
 * unit-tested and fuzzed on its own.  The layouts are those of
 * shared/docs/nws-protocol.md (sections 1-4 and 16):
 *
 *   D4    4 ASCII digits, zero padded          (counts, dictionary lengths, status)
 *   D20   20 ASCII digits, zero padded         (argument and value lengths)
 *   DICT  D4(n) n * (D4(klen) key D4(vlen) value)
 *   REQUEST  [DICT] D4(argc) argc * (D20(len) bytes)
 *   REPLY    [DICT] D4(status) [D20(desc) [S20(varid) D20(index)] D20(len) bytes]
 *
 * Invariant: a length read from the wire is validated (digits only, bounded)
 * before anyone may allocate from it.
 */
#ifndef NWS_FRAME_H
#define NWS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NWSP_D4_LEN        4
#define NWSP_D20_LEN       20
#define NWSP_D4_MAX         9999 /* the largest number 4 digits hold */
#define NWSP_VARID_LEN     20
#define NWSP_COOKIE_LEN    (NWSP_VARID_LEN + NWSP_D20_LEN)
#define NWSP_DICT_FIELD_MAX NWSP_D4_MAX /* a key or value: its length has 4 digits */
#define NWSP_ARGC_MAX       NWSP_D4_MAX

/* Status codes (section 4.3). */
#define NWSP_STATUS_OK           0
#define NWSP_STATUS_FAIL         1
#define NWSP_STATUS_NO_WS        100
#define NWSP_STATUS_INTERNAL     2000
#define NWSP_STATUS_NOT_OPENED   2001
#define NWSP_STATUS_SLEIGH_DEAD  5001
/* How nwsserver's error text starts when a sleigh batch's result can never
 * come (taken elsewhere, or no such batch); libnws recognizes it. */
#define NWSP_SLEIGH_OVER_TEXT    "Batch over:"
/* How nwsserver's error text starts when a session connection that is not a
 * registered worker of a sleigh asks for a task (register again). */
#define NWSP_SLEIGH_UNREGISTERED_TEXT "Not a registered worker:"

/* Type descriptor bits (section 8.2). */
#define NWSP_DESC_DIRECT_STRING 0x00000001
#define NWSP_DESC_BINARY        0x00000002
#define NWSP_DESC_LANG_SHIFT    24

/* Handshake words (section 2). */
#define NWSP_HS_NEW        "X000"
#define NWSP_HS_ADVERTISE  "P000"
#define NWSP_HS_REQUEST    "R000"
#define NWSP_HS_ACCEPT     "A000"
#define NWSP_HS_DENY       "F000"
#define NWSP_HS_OLD_REPLY  "2223"

/*
 * Parse an unsigned decimal field of len bytes.  Digits, optionally
 * surrounded by ASCII spaces, as the classic clients send them (R pads
 * the iteration index with trailing spaces).  No sign, no empty field.
 * Returns 0 and sets *out, or -1 if the field is malformed or above max.
 */
int nwsp_parse_u64(const char *p, size_t len, uint64_t max, uint64_t *out);

/*
 * Parse a signed decimal field (type descriptors, iteration indexes): like
 * nwsp_parse_u64 but a single leading '+' or '-' is allowed.  Returns 0/-1.
 */
int nwsp_parse_i64(const char *p, size_t len, int64_t *out);

/* Write v as exactly 4 zero-padded digits (v must be <= 9999). */
void nwsp_put_d4(char *dst, unsigned v);

/* Write v as exactly 20 zero-padded digits. */
void nwsp_put_d20(char *dst, uint64_t v);

/*
 * Write v as the reference writes "%020d": 20 characters, a negative number
 * keeps its '-' in front of the zero padding.
 */
void nwsp_put_i20(char *dst, int64_t v);

/* Write s into a 20-byte field, left-justified, space-padded, cut at 20. */
void nwsp_put_s20(char *dst, const char *s, size_t len);

/*
 * Dictionaries.  A dictionary is kept in its wire encoding; these functions
 * scan, walk and look up entries in place, without copying.
 */
struct nwsp_dict_ent {
    const char *key;
    size_t      klen;
    const char *val;
    size_t      vlen;
};

/* Results of nwsp_dict_scan besides a positive length. */
#define NWSP_SCAN_MORE 0  /* need more bytes */
#define NWSP_SCAN_BAD  -1 /* malformed: *why says how */

/*
 * Scan a dictionary at buf of which avail bytes are present.  Returns its
 * total encoded length (> 0) when it is complete, NWSP_SCAN_MORE when more
 * bytes are needed, NWSP_SCAN_BAD when a length field is not digits or when
 * the dictionary would exceed max_entries entries or max_bytes bytes.  *why
 * (may be NULL) gets a static text on NWSP_SCAN_BAD.
 */
ssize_t nwsp_dict_scan(const char *buf, size_t avail, size_t max_entries,
                       size_t max_bytes, const char **why);

/* Number of entries of a scanned dictionary. */
size_t nwsp_dict_count(const char *dict, size_t len);

/*
 * Walk a dictionary that nwsp_dict_scan accepted.  *pos starts at 0.  Returns
 * 1 and fills *e (pointers into dict) while entries remain, 0 at the end.
 */
int nwsp_dict_next(const char *dict, size_t len, size_t *pos, struct nwsp_dict_ent *e);

/*
 * Look key up in a scanned dictionary; a repeated key: the later one wins.
 * Returns 1 and sets *val and *vlen (pointers into dict) when found, 0 if not.
 */
int nwsp_dict_get(const char *dict, size_t len, const char *key, const char **val,
                  size_t *vlen);

/*
 * A growable byte buffer for building frames.  Zero-initialise it; free
 * data with free().  Functions return 0, or -1 on allocation failure (the
 * buffer is then unchanged).
 */
struct nwsp_buf {
    char  *data;
    size_t len;
    size_t cap;
};

int  nwsp_buf_reserve(struct nwsp_buf *b, size_t more);
int  nwsp_buf_add(struct nwsp_buf *b, const void *p, size_t len);
void nwsp_buf_reset(struct nwsp_buf *b);
void nwsp_buf_free(struct nwsp_buf *b);

/* Append D4(n): the start of a dictionary of n entries (n <= 9999). */
int nwsp_buf_dict_begin(struct nwsp_buf *b, unsigned n);

/* Append one entry; -1 also when klen or vlen exceeds 9999. */
int nwsp_buf_dict_put(struct nwsp_buf *b, const char *key, size_t klen, const char *val,
                      size_t vlen);

/* Append D4(argc): the argument count of a request (1..9999). */
int nwsp_buf_argc(struct nwsp_buf *b, unsigned argc);

/* Append D20(len) and the bytes of one argument. */
int nwsp_buf_arg(struct nwsp_buf *b, const void *p, size_t len);

/* Append D20(len) alone: the header of an argument whose bytes follow separately. */
int nwsp_buf_arg_header(struct nwsp_buf *b, uint64_t len);

#endif
