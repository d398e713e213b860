/*
 * _pdqindex: the compiled kernels behind bastion.banks.index.PdqIndex.
 *
 * Why C: at 10M PDQ hashes an exact radius-31 search is dominated by random memory reads; Python or
 * numpy cannot overlap those reads, a small loop with software prefetch can. The module is stateless:
 * every array lives in numpy on the Python side and is passed in through the buffer protocol, so there
 * are no numpy headers at build time, no object lifetimes to manage here, and two threads may call
 * `search` at once (the GIL is released while searching and building).
 *
 * Index layout (multi-index hashing, Norouzi et al.): NTABLES=11 disjoint chunks of `bits` (<= 23) bits
 * taken at offsets 0, 23, 46, ... of the 256-bit hash. By pigeonhole, if the full distance is <= r then
 * some chunk t differs in <= s_t bits (s_t about r / 11, see make_plan), so probing, per table, every
 * bucket within s_t bit flips of the query's chunk finds every match. Each table is CSR:
 * offsets[2^bits + 1] (uint32) and rows[n] (uint32 row numbers sorted by chunk value). A row found in
 * several tables is reported only from the first table in which its chunk is within budget: that check
 * needs only the row's hash, which verification reads anyway, so no visited set is needed.
 *
 * Beyond the radius where probing pays (cost model in choose_mih) the search is a linear scan, so every
 * radius 0..256 is exact.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HASH_BYTES 32
#define NTABLES 11   /* tables of the narrow layout (lo == 0) */
#define STRIDE 23
#define MAX_BITS 23    /* bucket-key (CSR) bits per table */
#define MAX_LO 5       /* key bits kept in the top of each row entry (wide layout) */
#define MAX_TABLES 16  /* table number fits the 4 low bits of a candidate */
#define MAX_FLIPS 6    /* beyond this many flips per chunk a linear scan always wins */
/* Software prefetch distances, in items of each stage: far enough ahead to cover DRAM latency, near
 * enough not to run out of miss buffers (measured: larger distances were slower here). */
#ifndef PF_DIST
#define PF_DIST 32
#endif
#ifndef PF_DIST2
#define PF_DIST2 PF_DIST
#endif
#ifndef PF_DIST3
#define PF_DIST3 16
#endif

/* Function multi-versioning: pick a POPCNT build at load time where the CPU has it, without
 * compiling the whole module with -march (which would crash on older CPUs). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("popcnt", "default")))
#else
#define HOT
#endif

#if defined(__GNUC__)
#ifndef PF_HINT
#define PF_HINT 1
#endif
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, PF_HINT)
#define POPCNT64(x) __builtin_popcountll(x)
#else
#define PREFETCH(p) ((void)0)
static inline int POPCNT64(uint64_t x) {
    int c = 0;
    while (x) { x &= x - 1; c++; }
    return c;
}
#endif

/* ---------------------------------------------------------------------------------------------- */
/* hash words and chunks                                                                          */

/* Little-endian load so a saved index means the same thing on every machine. */
static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void load_words(const uint8_t *p, uint64_t w[4]) {
    w[0] = load_le64(p);
    w[1] = load_le64(p + 8);
    w[2] = load_le64(p + 16);
    w[3] = load_le64(p + 24);
}

/* `bits` (<= 32) bits of the hash starting at bit `off` (off + bits <= 256). */
static inline uint32_t chunk_at(const uint64_t w[4], int off, int bits) {
    int wi = off >> 6, sh = off & 63;
    uint64_t v = w[wi] >> sh;
    if (sh + bits > 64) v |= w[wi + 1] << (64 - sh);
    return (uint32_t)(v & ((1ull << bits) - 1));
}

static inline uint32_t chunk_of(const uint64_t w[4], int t, int bits) {
    int off = t * STRIDE;
    int wi = off >> 6, sh = off & 63;
    uint64_t v = w[wi] >> sh;
    if (sh + bits > 64) v |= w[wi + 1] << (64 - sh);
    return (uint32_t)(v & ((1ull << bits) - 1));
}

static inline int distance_words(const uint64_t a[4], const uint8_t *p) {
    uint64_t b[4];
    load_words(p, b);
    return POPCNT64(a[0] ^ b[0]) + POPCNT64(a[1] ^ b[1]) + POPCNT64(a[2] ^ b[2]) +
           POPCNT64(a[3] ^ b[3]);
}

/* ---------------------------------------------------------------------------------------------- */
/* growable result vectors                                                                        */

typedef struct {
    int64_t id;
    int32_t dist;
} hit_t;

typedef struct {
    hit_t *v;
    size_t n, cap;
} hits_t;

static int hits_push(hits_t *h, int64_t id, int32_t dist) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        hit_t *v = (hit_t *)realloc(h->v, cap * sizeof(hit_t));
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n].id = id;
    h->v[h->n].dist = dist;
    h->n++;
    return 0;
}

static int hit_cmp(const void *a, const void *b) {
    const hit_t *x = (const hit_t *)a, *y = (const hit_t *)b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* flip masks                                                                                     */

static size_t binom(int n, int k) {
    if (k < 0 || k > n) return 0;
    size_t r = 1;
    for (int i = 1; i <= k; i++) r = r * (size_t)(n - k + i) / (size_t)i;
    return r;
}

static size_t count_masks(int bits, int flips) {
    size_t c = 0;
    for (int k = 0; k <= flips; k++) c += binom(bits, k);
    return c;
}

/* All masks of `bits` bits with popcount <= flips, in order of popcount (nearest buckets first). */
static void fill_masks(uint32_t *out, int bits, int flips) {
    size_t n = 0;
    out[n++] = 0;
    for (int k = 1; k <= flips; k++) {
        int pos[MAX_FLIPS];
        for (int i = 0; i < k; i++) pos[i] = i;
        for (;;) {
            uint32_t m = 0;
            for (int i = 0; i < k; i++) m |= 1u << pos[i];
            out[n++] = m;
            int i = k - 1;
            while (i >= 0 && pos[i] == bits - k + i) i--;
            if (i < 0) break;
            pos[i]++;
            for (int j = i + 1; j < k; j++) pos[j] = pos[j - 1] + 1;
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* kernels                                                                                        */

/* Table layout. Narrow (lo == 0): NTABLES tables, chunk t = bits [23 t, 23 t + bits), bucketed on all
 * of them. Wide (lo = 1..MAX_LO, for 10^8 rows): chunks of key = bits + lo bits at a stride of key bits,
 * 256 / key tables; the CSR buckets use the low `bits` bits of each chunk and the top `lo` bits ride in
 * the top bits of each row entry (row numbers then need 32 - lo bits), so a probe filters its bucket's
 * rows on them without touching the hashes: wider chunks (fewer false candidates) at no extra memory. */
typedef struct {
    int ntables, bits, lo, key, stride;
} layout_t;

static int get_layout(int bits, int lo, layout_t *L) {
    if (bits < 1 || bits > MAX_BITS || lo < 0 || lo > MAX_LO) return -1;
    L->bits = bits;
    L->lo = lo;
    L->key = bits + lo;
    if (lo == 0) {
        L->ntables = NTABLES;
        L->stride = STRIDE;
    } else {
        if (L->key < 256 / MAX_TABLES) return -1;
        L->ntables = 256 / L->key;
        L->stride = L->key;
    }
    return 0;
}

static inline uint32_t key_of(const uint64_t w[4], const layout_t *L, int t) {
    return chunk_at(w, t * L->stride, L->key);
}

typedef struct {
    const uint8_t *hashes; /* n * 32 */
    const int64_t *ids;    /* n */
    const uint8_t *tomb;   /* n, nonzero = removed; may be NULL */
    size_t n;
    int bits;                /* 0 = no tables */
    layout_t L;              /* when bits > 0 */
    const uint32_t *offsets; /* ntables * (2^bits + 1) */
    const uint32_t *rows;    /* ntables * n entries: row | lo key bits << (32 - lo) */
} segment_t;

/* Exact scan of rows [0, n) for a block of queries; row blocks keep the segment in cache across
 * queries of a batch. */
HOT static int scan_linear(const segment_t *seg, const uint8_t *queries, size_t nq, int r,
                           hits_t *out) {
    const size_t block = 4096;
    for (size_t b0 = 0; b0 < seg->n; b0 += block) {
        size_t b1 = b0 + block < seg->n ? b0 + block : seg->n;
        for (size_t q = 0; q < nq; q++) {
            uint64_t qw[4];
            load_words(queries + q * HASH_BYTES, qw);
            for (size_t i = b0; i < b1; i++) {
                int d = distance_words(qw, seg->hashes + i * HASH_BYTES);
                if (d <= r && !(seg->tomb && seg->tomb[i])) {
                    if (hits_push(&out[q], seg->ids[i], d)) return -1;
                }
            }
        }
    }
    return 0;
}

/* Per-table flip budgets for radius r (generalised pigeonhole, Qin et al. 2018): if every chunk t
 * differed in more than s_t bits the distance would be at least sum(s_t + 1); so choosing budgets with
 * sum(s_t + 1) = r + 1 guarantees some chunk within its budget. With 11 tables that gives, at r = 31,
 * ten tables at 2 flips and one at 1; at r = 0 a single table at 0 flips (s_t = -1: table skipped). */
typedef struct {
    int flips[MAX_TABLES];     /* budget of the whole chunk (key bits) */
    size_t nmasks[MAX_TABLES]; /* probed buckets: bucket-bit masks of up to min(flips, bits) bits */
    int max_flips;             /* of the bucket masks */
    size_t total;              /* probes per query */
    double keys;               /* chunk values within budget, summed over tables (for the cost model) */
} plan_t;

static void make_plan(const layout_t *L, int r, plan_t *p) {
    int a = (r + 1) / L->ntables, extra = (r + 1) % L->ntables;
    p->max_flips = -1;
    p->total = 0;
    p->keys = 0;
    for (int t = 0; t < L->ntables; t++) {
        int f = t < extra ? a : a - 1;
        if (f > L->key) f = L->key; /* every value of the chunk: still exact */
        int fb = f > L->bits ? L->bits : f;
        p->flips[t] = f;
        p->nmasks[t] = f < 0 ? 0 : count_masks(L->bits, fb);
        p->keys += f < 0 ? 0 : (double)count_masks(L->key, f);
        p->total += p->nmasks[t];
        if (fb > p->max_flips) p->max_flips = fb;
    }
}

typedef struct {
    const uint32_t **probe; /* address of each probed bucket's offset */
    uint8_t *ptab;          /* table of each probe */
    uint8_t *pbud;          /* flips left for the lo bits of each probe (wide layout) */
    uint64_t *ranges;       /* (start << 32 | end) of non-empty probed buckets */
    uint8_t *rtab;          /* table of each range */
    uint8_t *rbud;          /* lo budget of each range */
    uint64_t *cand;         /* row << 4 | table */
    size_t cand_cap;
} scratch_t;

/* Multi-index search of one query; see the file comment for why it is exact. Three pipelined stages
 * (bucket offsets, bucket rows, candidate hashes), each prefetching a few items ahead so that many
 * independent cache misses are in flight instead of one at a time. */
HOT static int search_mih_one(const segment_t *seg, const uint8_t *query, int r, const uint32_t *masks,
                              const plan_t *plan, scratch_t *sc, hits_t *out) {
    const layout_t *L = &seg->L;
    const int bits = L->bits, lo = L->lo, T = L->ntables;
    const size_t nb1 = ((size_t)1 << bits) + 1;
    const uint32_t bmask = (uint32_t)((1ull << bits) - 1);
    const int lo_shift = 32 - lo;
    const uint32_t row_mask = lo ? (uint32_t)((1ull << lo_shift) - 1) : 0xFFFFFFFFu;
    uint64_t qw[4];
    uint32_t qk[MAX_TABLES], qlo[MAX_TABLES];
    load_words(query, qw);
    for (int t = 0; t < T; t++) {
        qk[t] = key_of(qw, L, t);
        qlo[t] = qk[t] >> bits;
    }

    /* stage 1: probed buckets -> non-empty row ranges */
    size_t P = 0;
    for (int t = 0; t < T; t++) {
        const uint32_t *off_t = seg->offsets + (size_t)t * nb1;
        const uint32_t qb = qk[t] & bmask;
        for (size_t j = 0; j < plan->nmasks[t]; j++) {
            sc->probe[P] = off_t + (qb ^ masks[j]);
            sc->pbud[P] = (uint8_t)(plan->flips[t] - POPCNT64(masks[j]));
            sc->ptab[P++] = (uint8_t)t;
        }
    }
    size_t nr = 0;
    for (size_t k = 0; k < P; k++) {
        if (k + PF_DIST < P) PREFETCH(sc->probe[k + PF_DIST]);
        uint32_t s0 = sc->probe[k][0], s1 = sc->probe[k][1];
        if (s1 > s0) {
            sc->ranges[nr] = ((uint64_t)s0 << 32) | s1;
            sc->rbud[nr] = sc->pbud[k];
            sc->rtab[nr++] = sc->ptab[k];
        }
    }

    /* stage 2: ranges -> candidate rows (wide layout: only rows whose lo key bits are within budget) */
    size_t nc = 0;
    for (size_t k = 0; k < nr; k++) {
        if (k + PF_DIST2 < nr) {
            /* both ends of the bucket's run of entries: at 10^8 rows a bucket holds ~12 entries (48
             * bytes), which straddle two cache lines more often than not */
            size_t kk = k + PF_DIST2;
            const uint32_t *base = seg->rows + (size_t)sc->rtab[kk] * seg->n;
            PREFETCH(base + (sc->ranges[kk] >> 32));
            PREFETCH(base + (uint32_t)sc->ranges[kk] - 1);
        }
        uint32_t s0 = (uint32_t)(sc->ranges[k] >> 32), s1 = (uint32_t)sc->ranges[k];
        const int t = sc->rtab[k];
        const uint32_t *rows = seg->rows + (size_t)t * seg->n;
        size_t need = nc + (s1 - s0);
        if (need > sc->cand_cap) {
            size_t cap = sc->cand_cap * 2 > need ? sc->cand_cap * 2 : need;
            uint64_t *c = (uint64_t *)realloc(sc->cand, cap * sizeof(uint64_t));
            if (!c) return -1;
            sc->cand = c;
            sc->cand_cap = cap;
        }
        if (lo) {
            const uint32_t ql = qlo[t];
            const int bud = sc->rbud[k];
            for (uint32_t i = s0; i < s1; i++) {
                uint32_t e = rows[i];
                if (POPCNT64((uint64_t)((e >> lo_shift) ^ ql)) <= bud)
                    sc->cand[nc++] = ((uint64_t)(e & row_mask) << 4) | (uint64_t)t;
            }
        } else {
            for (uint32_t i = s0; i < s1; i++) sc->cand[nc++] = ((uint64_t)rows[i] << 4) | (uint64_t)t;
        }
    }

    /* stage 3: verify candidates; report each row from the first table that can see it */
    for (size_t k = 0; k < nc; k++) {
        if (k + PF_DIST3 < nc) PREFETCH(seg->hashes + (sc->cand[k + PF_DIST3] >> 4) * HASH_BYTES);
        size_t row = (size_t)(sc->cand[k] >> 4);
        int t = (int)(sc->cand[k] & 15);
        uint64_t hw[4];
        load_words(seg->hashes + row * HASH_BYTES, hw);
        int d = POPCNT64(qw[0] ^ hw[0]) + POPCNT64(qw[1] ^ hw[1]) + POPCNT64(qw[2] ^ hw[2]) +
                POPCNT64(qw[3] ^ hw[3]);
        if (d > r) continue;
        int seen_earlier = 0;
        for (int u = 0; u < t; u++) {
            if (POPCNT64((uint64_t)(qk[u] ^ key_of(hw, L, u))) <= plan->flips[u]) {
                seen_earlier = 1;
                break;
            }
        }
        if (seen_earlier) continue;
        if (seg->tomb && seg->tomb[row]) continue;
        if (hits_push(out, seg->ids[row], d)) return -1;
    }
    return 0;
}

/* Cost model (nanoseconds, measured on the project's 2-core machine): a bucket probe costs about two
 * cache misses, a candidate about one, a linear-scan row about two nanoseconds of streaming, a row
 * entry filtered on its lo bits (wide layout) about one. */
#define COST_PROBE 40.0
#define COST_CAND 50.0
#define COST_ROW 2.4
#define COST_ENTRY 1.0

static int choose_mih(const segment_t *seg, int r, int mode, plan_t *plan) {
    if (seg->bits == 0 || seg->n == 0) return 0;
    make_plan(&seg->L, r, plan);
    if (plan->max_flips > MAX_FLIPS) return 0;
    if (mode == 1) return 1;
    if (mode == 2) return 0;
    double probes = (double)plan->total;
    double cands = plan->keys * (double)seg->n / (double)((size_t)1 << seg->L.key);
    double entries = seg->L.lo ? probes * (double)seg->n / (double)((size_t)1 << seg->bits) : 0.0;
    return probes * COST_PROBE + cands * COST_CAND + entries * COST_ENTRY < (double)seg->n * COST_ROW;
}

/* Search one segment for all queries, appending hits to out[q]. Called without the GIL. */
static int search_segment(const segment_t *seg, const uint8_t *queries, size_t nq, int r, int mode,
                          hits_t *out) {
    plan_t plan;
    if (seg->n == 0) return 0;
    if (!choose_mih(seg, r, mode, &plan)) return scan_linear(seg, queries, nq, r, out);
    if (plan.total == 0) return 0;
    int rc = -1;
    size_t nm = count_masks(seg->bits, plan.max_flips);
    uint32_t *masks = (uint32_t *)malloc(nm * sizeof(uint32_t));
    scratch_t sc = {0};
    sc.probe = (const uint32_t **)malloc(plan.total * sizeof(uint32_t *));
    sc.ptab = (uint8_t *)malloc(plan.total);
    sc.pbud = (uint8_t *)malloc(plan.total);
    sc.ranges = (uint64_t *)malloc(plan.total * sizeof(uint64_t));
    sc.rtab = (uint8_t *)malloc(plan.total);
    sc.rbud = (uint8_t *)malloc(plan.total);
    sc.cand_cap = 4096;
    sc.cand = (uint64_t *)malloc(sc.cand_cap * sizeof(uint64_t));
    if (!masks || !sc.probe || !sc.ptab || !sc.pbud || !sc.ranges || !sc.rtab || !sc.rbud || !sc.cand) goto done;
    fill_masks(masks, seg->bits, plan.max_flips);
    for (size_t q = 0; q < nq; q++) {
        if (search_mih_one(seg, queries + q * HASH_BYTES, r, masks, &plan, &sc, &out[q])) goto done;
    }
    rc = 0;
done:
    free(masks);
    free(sc.probe);
    free(sc.ptab);
    free(sc.pbud);
    free(sc.ranges);
    free(sc.rtab);
    free(sc.rbud);
    free(sc.cand);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */
/* Python glue                                                                                    */

/* Fill `view` from obj (or leave it empty for None when allowed) and check its byte length. */
static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t min_len, int writable, int allow_none,
                      const char *what) {
    memset(view, 0, sizeof(*view));
    if (obj == Py_None) {
        if (allow_none) return 0;
        PyErr_Format(PyExc_TypeError, "%s must not be None", what);
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len < min_len) {
        PyErr_Format(PyExc_ValueError, "%s is %zd bytes, needs at least %zd", what, view->len, min_len);
        PyBuffer_Release(view);
        memset(view, 0, sizeof(*view));
        return -1;
    }
    return 0;
}

static void release(Py_buffer *v) {
    if (v->obj) PyBuffer_Release(v);
}

/* Sort the rows of one table by chunk: an MSD radix sort in two passes over the hashes and one over
 * the table.
 *
 * Pass 1 counts the rows per high part of the chunk (hi_bits <= 11: at most 2048 counters). Pass 2
 * scatters row numbers into `rows` by that high part (2048 sequential streams, which stay in cache) and
 * the low part of each chunk into `lo_tmp` (uint16) at the same position. Pass 3 takes each high bucket
 * (a contiguous run of ~n / 2^hi_bits rows) into a small scratch buffer and counting-sorts it by the low
 * part back into `rows`, filling the offsets of its 2^lo_bits buckets as it goes. Rows stay in
 * ascending order inside each bucket (both passes are stable).
 *
 * Extra memory: 2 bytes per row (lo_tmp) plus the largest high bucket, instead of the 12 bytes per row
 * of the earlier LSD sort (keys + (key, row) pairs): what lets a 100M-row index build within 10 GB.
 * A direct counting sort over 2^23 buckets would make two random accesses per row into 32 MB arrays. */
#define HI_BITS_MAX 11

typedef struct {
    uint16_t *lo_tmp;  /* n */
    uint32_t *cnt;     /* 2^hi + 1 */
    uint32_t *lcnt;    /* 2^lo + 1 */
    uint32_t *s_rows;  /* largest high bucket */
    uint16_t *s_lo;
    size_t s_cap;
} build_scratch_t;

static int build_table(const uint8_t *hashes, size_t n, const layout_t *L, int t, uint32_t *off, uint32_t *rows,
                       build_scratch_t *b) {
    const int bits = L->bits, lo_shift = 32 - L->lo;
    const uint32_t bmask = (uint32_t)((1ull << bits) - 1);
    const int hi_bits = bits > HI_BITS_MAX ? HI_BITS_MAX : (bits + 1) / 2;
    const int lo_bits = bits - hi_bits; /* <= 12: fits uint16 */
    const size_t nhi = (size_t)1 << hi_bits, nlo = (size_t)1 << lo_bits;
    const uint32_t lo_mask = (uint32_t)(nlo - 1);
    uint32_t *cnt = b->cnt, *lcnt = b->lcnt;
    memset(cnt, 0, (nhi + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        uint64_t w[4];
        load_words(hashes + i * HASH_BYTES, w);
        cnt[((key_of(w, L, t) & bmask) >> lo_bits) + 1]++;
    }
    size_t biggest = 0;
    for (size_t h = 0; h < nhi; h++) {
        if (cnt[h + 1] > biggest) biggest = cnt[h + 1];
        cnt[h + 1] += cnt[h];
    }
    if (biggest > b->s_cap) {
        uint32_t *sr = (uint32_t *)realloc(b->s_rows, biggest * sizeof(uint32_t));
        if (sr) b->s_rows = sr;
        uint16_t *sl = (uint16_t *)realloc(b->s_lo, biggest * sizeof(uint16_t));
        if (sl) b->s_lo = sl;
        if (!sr || !sl) return -1;
        b->s_cap = biggest;
    }
    /* cnt[h] is now the start of high bucket h; pass 2 advances it to the end (= start of h + 1) */
    for (size_t i = 0; i < n; i++) {
        uint64_t w[4];
        load_words(hashes + i * HASH_BYTES, w);
        uint32_t full = key_of(w, L, t), key = full & bmask;
        uint32_t pos = cnt[key >> lo_bits]++;
        /* the entry: the row, and in the wide layout the chunk's lo bits above it */
        rows[pos] = L->lo ? (uint32_t)i | ((full >> bits) << lo_shift) : (uint32_t)i;
        b->lo_tmp[pos] = (uint16_t)(key & lo_mask);
    }
    size_t a = 0;
    for (size_t h = 0; h < nhi; h++) {
        size_t e = cnt[h], m = e - a;
        uint32_t *off_h = off + (h << lo_bits);
        if (m == 0) { /* an empty high bucket: its low buckets all start (and end) at a */
            for (size_t l = 0; l < nlo; l++) off_h[l] = (uint32_t)a;
            continue;
        }
        memcpy(b->s_rows, rows + a, m * sizeof(uint32_t));
        memcpy(b->s_lo, b->lo_tmp + a, m * sizeof(uint16_t));
        memset(lcnt, 0, (nlo + 1) * sizeof(uint32_t));
        for (size_t i = 0; i < m; i++) lcnt[b->s_lo[i] + 1]++;
        for (size_t l = 0; l < nlo; l++) lcnt[l + 1] += lcnt[l];
        for (size_t l = 0; l < nlo; l++) off_h[l] = (uint32_t)(a + lcnt[l]);
        for (size_t i = 0; i < m; i++) rows[a + lcnt[b->s_lo[i]]++] = b->s_rows[i];
        a = e;
    }
    off[(size_t)1 << bits] = (uint32_t)n;
    return 0;
}

static int build_range(const uint8_t *hashes, size_t n, const layout_t *L, uint32_t *offsets, uint32_t *rows,
                       int t0, int t1) {
    const int bits = L->bits;
    const size_t nb = (size_t)1 << bits;
    const int hi_bits = bits > HI_BITS_MAX ? HI_BITS_MAX : (bits + 1) / 2;
    build_scratch_t b = {0};
    b.lo_tmp = (uint16_t *)malloc((n ? n : 1) * sizeof(uint16_t));
    b.cnt = (uint32_t *)malloc((((size_t)1 << hi_bits) + 1) * sizeof(uint32_t));
    b.lcnt = (uint32_t *)malloc((((size_t)1 << (bits - hi_bits)) + 1) * sizeof(uint32_t));
    int oom = !b.lo_tmp || !b.cnt || !b.lcnt;
    for (int t = t0; t < t1 && !oom; t++)
        oom = build_table(hashes, n, L, t, offsets + (size_t)t * (nb + 1), rows + (size_t)t * n, &b);
    free(b.lo_tmp);
    free(b.cnt);
    free(b.lcnt);
    free(b.s_rows);
    free(b.s_lo);
    return oom;
}

PyDoc_STRVAR(build_doc,
             "build_tables(hashes, n, bits, offsets, rows, first=0, last=ntables, lo=0)\n--\n\n"
             "Radix-sort the n hashes into the CSR tables first..last-1 of 2**bits buckets each (layout\n"
             "(bits, lo), see layout()). `offsets` must be a writable uint32 buffer of ntables*(2**bits+1)\n"
             "items, `rows` one of ntables*n items.\n"
             "Disjoint table ranges may be built by several threads at once (the GIL is released); each call\n"
             "needs 2 bytes per row of temporary memory.");

static PyObject *py_build_tables(PyObject *self, PyObject *args) {
    PyObject *oh, *oo, *orows;
    Py_ssize_t n;
    int bits, t0 = 0, t1 = -1, lo = 0;
    layout_t L;
    if (!PyArg_ParseTuple(args, "OniOO|iii", &oh, &n, &bits, &oo, &orows, &t0, &t1, &lo)) return NULL;
    if (get_layout(bits, lo, &L)) return PyErr_Format(PyExc_ValueError, "no table layout for bits=%d lo=%d", bits, lo);
    if (t1 < 0) t1 = L.ntables;
    if (t0 < 0 || t1 > L.ntables || t0 > t1) return PyErr_Format(PyExc_ValueError, "table range out of 0..%d", L.ntables);
    if (n < 0 || (unsigned long long)n >= (0xFFFFFFFFull >> lo))
        return PyErr_Format(PyExc_ValueError, "n out of range");
    const size_t nb = (size_t)1 << bits;
    Py_buffer h, o, rw;
    if (get_buffer(oh, &h, n * HASH_BYTES, 0, 0, "hashes")) return NULL;
    if (get_buffer(oo, &o, (Py_ssize_t)(L.ntables * (nb + 1) * 4), 1, 0, "offsets")) {
        release(&h);
        return NULL;
    }
    if (get_buffer(orows, &rw, (Py_ssize_t)(L.ntables * (size_t)n * 4), 1, 0, "rows")) {
        release(&h);
        release(&o);
        return NULL;
    }
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS;
    oom = build_range((const uint8_t *)h.buf, (size_t)n, &L, (uint32_t *)o.buf, (uint32_t *)rw.buf, t0, t1);
    Py_END_ALLOW_THREADS;
    release(&h);
    release(&o);
    release(&rw);
    if (oom) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* Parse one segment given as (hashes, ids, tomb, n, bits, offsets, rows). */
static int parse_segment(PyObject *tup, segment_t *seg, Py_buffer views[5]) {
    PyObject *oh, *oi, *ot, *oo, *orows;
    Py_ssize_t n;
    int bits, lo = 0;
    for (int i = 0; i < 5; i++) memset(&views[i], 0, sizeof(Py_buffer));
    if (!PyArg_ParseTuple(tup, "OOOniOO|i;segment must be (hashes, ids, tomb, n, bits, offsets, rows[, lo])", &oh,
                          &oi, &ot, &n, &bits, &oo, &orows, &lo))
        return -1;
    memset(seg, 0, sizeof(*seg));
    if (n < 0 || bits < 0 || (bits > 0 && get_layout(bits, lo, &seg->L)) || (bits == 0 && lo != 0) ||
        (unsigned long long)n >= (0xFFFFFFFFull >> lo)) {
        PyErr_SetString(PyExc_ValueError, "segment n, bits or lo out of range");
        return -1;
    }
    seg->n = (size_t)n;
    seg->bits = bits;
    if (get_buffer(oh, &views[0], n * HASH_BYTES, 0, 0, "hashes")) goto fail;
    if (get_buffer(oi, &views[1], n * 8, 0, 0, "ids")) goto fail;
    if (get_buffer(ot, &views[2], n, 0, 1, "tomb")) goto fail;
    seg->hashes = (const uint8_t *)views[0].buf;
    seg->ids = (const int64_t *)views[1].buf;
    seg->tomb = views[2].obj ? (const uint8_t *)views[2].buf : NULL;
    if (bits > 0) {
        size_t nb = (size_t)1 << bits;
        if (get_buffer(oo, &views[3], (Py_ssize_t)(seg->L.ntables * (nb + 1) * 4), 0, 0, "offsets")) goto fail;
        if (get_buffer(orows, &views[4], (Py_ssize_t)(seg->L.ntables * (size_t)n * 4), 0, 0, "rows")) goto fail;
        seg->offsets = (const uint32_t *)views[3].buf;
        seg->rows = (const uint32_t *)views[4].buf;
    }
    return 0;
fail:
    for (int i = 0; i < 5; i++) release(&views[i]);
    return -1;
}

PyDoc_STRVAR(search_doc,
             "search(segments, queries, nq, max_distance, mode=0) -> list[list[tuple[int, int]]]\n--\n\n"
             "Exact Hamming search of nq 32-byte queries over each segment (see parse_segment); one list\n"
             "of (id, distance) per query, sorted by distance then id. mode: 0 = choose per segment by\n"
             "cost, 1 = force multi-index where the radius allows it, 2 = force a linear scan.");

#define MAX_SEGMENTS 8

static PyObject *py_search(PyObject *self, PyObject *args) {
    PyObject *osegs, *oq;
    Py_ssize_t nq;
    int r, mode = 0;
    if (!PyArg_ParseTuple(args, "OOni|i", &osegs, &oq, &nq, &r, &mode)) return NULL;
    if (r < 0 || r > 256) return PyErr_Format(PyExc_ValueError, "max_distance must be 0..256, got %d", r);
    if (nq < 0) return PyErr_Format(PyExc_ValueError, "nq must be >= 0");
    if (!PyTuple_Check(osegs) || PyTuple_GET_SIZE(osegs) > MAX_SEGMENTS)
        return PyErr_Format(PyExc_TypeError, "segments must be a tuple of at most %d", MAX_SEGMENTS);
    Py_ssize_t nseg = PyTuple_GET_SIZE(osegs);
    segment_t segs[MAX_SEGMENTS];
    Py_buffer views[MAX_SEGMENTS][5];
    Py_buffer qv;
    Py_ssize_t parsed = 0;
    PyObject *result = NULL;
    hits_t *hits = NULL;
    memset(&qv, 0, sizeof(qv));
    for (; parsed < nseg; parsed++) {
        if (parse_segment(PyTuple_GET_ITEM(osegs, parsed), &segs[parsed], views[parsed])) goto done;
    }
    if (get_buffer(oq, &qv, nq * HASH_BYTES, 0, 0, "queries")) goto done;
    hits = (hits_t *)calloc(nq ? (size_t)nq : 1, sizeof(hits_t));
    if (!hits) {
        PyErr_NoMemory();
        goto done;
    }
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t s = 0; s < nseg && rc == 0; s++)
        rc = search_segment(&segs[s], (const uint8_t *)qv.buf, (size_t)nq, r, mode, hits);
    if (rc == 0 && nseg > 1)
        for (Py_ssize_t q = 0; q < nq; q++) qsort(hits[q].v, hits[q].n, sizeof(hit_t), hit_cmp);
    else if (rc == 0)
        for (Py_ssize_t q = 0; q < nq; q++)
            if (hits[q].n > 1) qsort(hits[q].v, hits[q].n, sizeof(hit_t), hit_cmp);
    Py_END_ALLOW_THREADS;
    if (rc) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New(nq);
    if (!result) goto done;
    for (Py_ssize_t q = 0; q < nq; q++) {
        PyObject *lst = PyList_New((Py_ssize_t)hits[q].n);
        if (!lst) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, q, lst);
        for (size_t i = 0; i < hits[q].n; i++) {
            PyObject *tup = Py_BuildValue("(Li)", (long long)hits[q].v[i].id, (int)hits[q].v[i].dist);
            if (!tup) {
                Py_CLEAR(result);
                goto done;
            }
            PyList_SET_ITEM(lst, (Py_ssize_t)i, tup);
        }
    }
done:
    if (hits) {
        for (Py_ssize_t q = 0; q < nq; q++) free(hits[q].v);
        free(hits);
    }
    for (Py_ssize_t s = 0; s < parsed; s++)
        for (int i = 0; i < 5; i++) release(&views[s][i]);
    release(&qv);
    return result;
}

PyDoc_STRVAR(merge_doc,
             "merge_rows(a_hashes, a_ids, a_tomb, a_n, b_hashes, b_ids, b_n, out_hashes, out_ids) -> int\n--\n\n"
             "Merge the live rows of id-sorted segment a (tomb[i] != 0 = removed) with the id-sorted rows of\n"
             "b into the out buffers (room for a_n + b_n rows), in id order; b wins on an equal id. Returns\n"
             "the number of rows written. Used by compaction, with the GIL released, so that a background\n"
             "rebuild of 10M rows never holds up adds and searches in other threads.");

static PyObject *py_merge_rows(PyObject *self, PyObject *args) {
    PyObject *oah, *oai, *oat, *obh, *obi, *ooh, *ooi;
    Py_ssize_t an, bn;
    if (!PyArg_ParseTuple(args, "OOOnOOnOO", &oah, &oai, &oat, &an, &obh, &obi, &bn, &ooh, &ooi)) return NULL;
    if (an < 0 || bn < 0) return PyErr_Format(PyExc_ValueError, "negative row count");
    Py_buffer v[7];
    memset(v, 0, sizeof(v));
    PyObject *result = NULL;
    if (get_buffer(oah, &v[0], an * HASH_BYTES, 0, 0, "a_hashes") || get_buffer(oai, &v[1], an * 8, 0, 0, "a_ids") ||
        get_buffer(oat, &v[2], an, 0, 0, "a_tomb") || get_buffer(obh, &v[3], bn * HASH_BYTES, 0, 0, "b_hashes") ||
        get_buffer(obi, &v[4], bn * 8, 0, 0, "b_ids") ||
        get_buffer(ooh, &v[5], (an + bn) * HASH_BYTES, 1, 0, "out_hashes") ||
        get_buffer(ooi, &v[6], (an + bn) * 8, 1, 0, "out_ids"))
        goto done;
    size_t k = 0;
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *ah = (const uint8_t *)v[0].buf, *at = (const uint8_t *)v[2].buf, *bh = (const uint8_t *)v[3].buf;
    const int64_t *ai = (const int64_t *)v[1].buf, *bi = (const int64_t *)v[4].buf;
    uint8_t *oh = (uint8_t *)v[5].buf;
    int64_t *oi = (int64_t *)v[6].buf;
    size_t i = 0, j = 0, na = (size_t)an, nb = (size_t)bn;
    while (i < na || j < nb) {
        if (i < na && at[i]) {
            i++;
            continue;
        }
        int take_b;
        if (i >= na) take_b = 1;
        else if (j >= nb) take_b = 0;
        else if (ai[i] == bi[j]) {
            i++; /* b replaces a */
            continue;
        } else take_b = bi[j] < ai[i];
        if (take_b) {
            oi[k] = bi[j];
            memcpy(oh + k * HASH_BYTES, bh + j * HASH_BYTES, HASH_BYTES);
            j++;
        } else {
            oi[k] = ai[i];
            memcpy(oh + k * HASH_BYTES, ah + i * HASH_BYTES, HASH_BYTES);
            i++;
        }
        k++;
    }
    Py_END_ALLOW_THREADS;
    result = PyLong_FromSize_t(k);
done:
    for (int x = 0; x < 7; x++) release(&v[x]);
    return result;
}

PyDoc_STRVAR(plan_doc,
             "plan(n, bits, max_distance, lo=0) -> str\n--\n\n"
             "Which kernel mode=0 would use for a segment of n rows: 'mih' or 'linear' (for tests and\n"
             "benchmarks).");

static PyObject *py_plan(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    int bits, r, lo = 0;
    if (!PyArg_ParseTuple(args, "nii|i", &n, &bits, &r, &lo)) return NULL;
    segment_t seg = {0};
    seg.n = (size_t)n;
    seg.bits = bits;
    plan_t plan;
    if (bits < 0 || r < 0 || r > 256 || (bits > 0 && get_layout(bits, lo, &seg.L)))
        return PyErr_Format(PyExc_ValueError, "bits, lo or radius out of range");
    return PyUnicode_FromString(choose_mih(&seg, r, 0, &plan) ? "mih" : "linear");
}

PyDoc_STRVAR(layout_doc,
             "layout(bits, lo=0) -> (ntables, stride)\n--\n\n"
             "Tables and chunk stride of a layout: lo = 0 is the narrow one (11 tables of `bits` bits at\n"
             "a stride of 23); lo = 1..5 the wide one (chunks of bits + lo bits, 256 // (bits + lo) tables,\n"
             "bucketed on `bits`, the other lo bits kept in each row entry).");

static PyObject *py_layout(PyObject *self, PyObject *args) {
    int bits, lo = 0;
    layout_t L;
    if (!PyArg_ParseTuple(args, "i|i", &bits, &lo)) return NULL;
    if (get_layout(bits, lo, &L)) return PyErr_Format(PyExc_ValueError, "no table layout for bits=%d lo=%d", bits, lo);
    return Py_BuildValue("(ii)", L.ntables, L.stride);
}

static PyMethodDef methods[] = {
    {"build_tables", py_build_tables, METH_VARARGS, build_doc},
    {"search", py_search, METH_VARARGS, search_doc},
    {"plan", py_plan, METH_VARARGS, plan_doc},
    {"layout", py_layout, METH_VARARGS, layout_doc},
    {"merge_rows", py_merge_rows, METH_VARARGS, merge_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_pdqindex",
    "Compiled kernels of bastion.banks.index (multi-index Hamming search over PDQ hashes).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__pdqindex(void) {
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "NTABLES", NTABLES) || PyModule_AddIntConstant(m, "STRIDE", STRIDE) ||
        PyModule_AddIntConstant(m, "MAX_BITS", MAX_BITS) || PyModule_AddIntConstant(m, "HASH_BYTES", HASH_BYTES) ||
        PyModule_AddIntConstant(m, "MAX_LO", MAX_LO)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
