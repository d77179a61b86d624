/* The parallel driver: every operator's work goes through fp__parallel().
 *
 * An operator hands over a range of independent work items [0, items) and
 * a single-threaded chunk function over [begin, end).  The range is cut into
 * many more chunks than threads (FP_CHUNKS_PER_THREAD each, never fewer
 * items than one per chunk) and the chunks are claimed one at a time from a
 * shared counter, so a thread the OS has descheduled holds back at most the
 * chunk it is running: the others take over its share.  Chunk boundaries
 * depend on (items, threads) only and a chunk's result on its items only, so
 * the result is bit-identical for any thread count and any claiming order.
 *
 * Why a pool of its own and not an OpenMP region.  An OpenMP parallel region
 * is fork-join: the calling thread cannot leave it before every thread of
 * the team has reached the closing barrier, and (libgomp) cannot start it
 * before every pooled thread is back at the dock.  When a core is busy, the
 * thread scheduled there arrives milliseconds late, and a short call waits
 * for it even when the caller has done every chunk itself (measured on a
 * 2-core AMD EPYC: adaptive 14->7, 0.66 ms alone, 8.0 ms with one core
 * taken; bench/README.md, "Thread scenarios").  Here the caller starts on the
 * chunks at once, never waits for a helper thread to start, and returns as
 * soon as every chunk is done; a helper that wakes after that finds nothing
 * to claim and goes back to sleep.
 *
 * Wait policy.  A helper that runs out of chunks spins for FP_SPIN_NS (a
 * call that follows at once finds it awake), then sleeps on a condition
 * variable.  Spinning longer would take a core from the caller's neighbours
 * (another library's pool, a data loader) every time fastpool has run; a
 * sleeping helper costs a wake-up, which the caller does not wait for.
 * There is no environment variable: the thread count comes from the call
 * (num_threads) or, for 0, from OpenMP's default (OMP_NUM_THREADS,
 * omp_set_num_threads, threadpoolctl), capped at FP_THREADS_PER_PROC per
 * processor this process may run on.
 *
 * Calls from several threads at once: one call at a time uses the pool; a
 * call that finds it in use runs on its own thread (no oversubscription, no
 * waiting).  A chunk function that calls fp__parallel() again runs it
 * inline.  After fork() the child starts with no helpers and makes new ones
 * when it needs them, so fastpool keeps working in a forked child. */
#include "fp_internal.h"

#ifdef FP_WITH_OPENMP
#  include <omp.h>
#endif

/* Below this many elementary operations a call runs on one thread: a
 * chunk claim and a wake-up cost more than they save. */
#define FP_PARALLEL_MIN_WORK 32768
/* The most threads one call runs per processor the process may use. */
#define FP_THREADS_PER_PROC 4

int fp__threads_default(void) {
#ifdef FP_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int fp__threads_requested(int32_t requested) {
#ifdef FP_WITH_OPENMP
  int64_t n = requested > 0 ? requested : omp_get_max_threads();
  /* Oversubscription never speeds these kernels up, and every thread is a
   * real one: a request is capped at FP_THREADS_PER_PROC per processor. */
  const int64_t cap = (int64_t)FP_THREADS_PER_PROC * omp_get_num_procs();
  if (n > cap) n = cap;
  if (n < 1) n = 1;
  return (int)n;
#else
  (void)requested;
  return 1;
#endif
}

int fp__threads(int32_t requested, int64_t work, int64_t tasks) {
  if (work < FP_PARALLEL_MIN_WORK) return 1;
  int64_t n = fp__threads_requested(requested);
  if (n > tasks) n = tasks;
  if (n < 1) n = 1;
  return (int)n;
}

#if defined(FP_WITH_OPENMP)
#  define FP_HAVE_POOL 1
#endif

#ifndef FP_HAVE_POOL

void fp__parallel(int nt, int64_t items, fp__chunk_fn fn, void *ctx) {
  (void)nt;
  if (items > 0) fn(ctx, 0, items, 0);
}

#else /* FP_HAVE_POOL */

#  include <pthread.h>
#  include <stdatomic.h>
#  include <stdlib.h>
#  include <time.h>

/* Chunk c of nchunks over [0, items): [*b, *e). */
static void chunk_bounds(int64_t items, int64_t nchunks, int64_t c, int64_t *b, int64_t *e) {
  const int64_t q = items / nchunks, r = items % nchunks;
  *b = c * q + (c < r ? c : r);
  *e = *b + q + (c < r);
}

/* The number of chunks [0, items) is cut into on nt threads. */
static int64_t parallel_chunks(int nt, int64_t items) {
  if (nt <= 1 || items <= 1) return 1;
  int64_t n = (int64_t)nt * FP_CHUNKS_PER_THREAD;
  if (n > items) n = items;
  if (n > FP_MAX_CHUNKS) n = FP_MAX_CHUNKS;
  return n;
}

/* How long an idle helper spins before it sleeps. */
#  define FP_SPIN_NS 20000

#  if defined(__x86_64__) || defined(__i386__)
#    include <immintrin.h>
#    define FP_PAUSE() _mm_pause()
#  elif defined(__aarch64__)
#    define FP_PAUSE() __asm__ __volatile__("yield")
#  else
#    define FP_PAUSE() ((void)0)
#  endif

typedef struct fp__helper {
  pthread_t thread;
  int slot; /* 1 .. : the caller is slot 0 */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  _Atomic uint32_t invite;  /* the job this helper is asked to join */
  _Atomic int sleeping;     /* set under mu before waiting on cv */
} fp__helper;

/* The one pool.  `lock` is held by the call whose job is live; the job's
 * fields are written under it, before `claim` publishes the job.  `claim`
 * packs [job:32][chunks:16][next:16]: a helper claims chunk `next` of job
 * `job` with one compare-and-swap that fails once the job is another, so a
 * helper that wakes late can never take part in a job it was not asked to
 * (its slot might be beyond that job's workspaces). */
static struct {
  pthread_mutex_t lock;
  fp__helper **helpers;
  int nhelpers, cap;
  uint32_t job;
  fp__chunk_fn fn;
  void *ctx;
  int64_t items, nchunks;
  _Atomic uint64_t claim;
  _Atomic int64_t done;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
/* Set on every helper and on a caller while it runs chunks: a nested call
 * runs inline. */
static _Thread_local int in_pool;

#  define CLAIM(job, nchunks, next) \
    (((uint64_t)(job) << 32) | ((uint64_t)(nchunks) << 16) | (uint64_t)(next))

/* The caller of the live job, when it sleeps until the helpers' last
 * chunks are done (see fp__parallel). */
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static _Atomic int caller_waiting;

/* Claims and runs chunks of job `job` until none is left; returns how many
 * it ran. */
static int64_t run_chunks(uint32_t job, int slot) {
  int64_t ran = 0;
  uint64_t v = atomic_load_explicit(&pool.claim, memory_order_acquire);
  for (;;) {
    if ((uint32_t)(v >> 32) != job) return ran;
    const uint64_t next = v & 0xFFFF, n = (v >> 16) & 0xFFFF;
    if (next >= n) return ran;
    if (!atomic_compare_exchange_weak_explicit(&pool.claim, &v, v + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    /* The job cannot end while this chunk is not done: its fields stand. */
    int64_t b, e;
    chunk_bounds(pool.items, pool.nchunks, (int64_t)next, &b, &e);
    pool.fn(pool.ctx, b, e, slot);
    ran++;
    /* After this increment the job may end at once: only locals from here. */
    if (atomic_fetch_add(&pool.done, 1) + 1 == (int64_t)n && slot != 0 &&
        atomic_load(&caller_waiting)) {
      pthread_mutex_lock(&done_mu);
      pthread_cond_signal(&done_cv);
      pthread_mutex_unlock(&done_mu);
    }
    v = atomic_load_explicit(&pool.claim, memory_order_acquire);
  }
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *helper_main(void *arg) {
  fp__helper *h = (fp__helper *)arg;
  in_pool = 1;
  uint32_t seen = 0; /* no job is 0: the first invite may come before this thread runs */
  for (;;) {
    uint32_t inv = atomic_load_explicit(&h->invite, memory_order_acquire);
    if (inv == seen) {
      const int64_t until = now_ns() + FP_SPIN_NS;
      for (int i = 1; (inv = atomic_load_explicit(&h->invite, memory_order_acquire)) == seen; i++) {
        FP_PAUSE();
        if ((i & 63) == 0 && now_ns() > until) break;
      }
    }
    if (inv == seen) {
      pthread_mutex_lock(&h->mu);
      atomic_store(&h->sleeping, 1);
      while ((inv = atomic_load(&h->invite)) == seen) pthread_cond_wait(&h->cv, &h->mu);
      atomic_store(&h->sleeping, 0);
      pthread_mutex_unlock(&h->mu);
    }
    seen = inv;
    run_chunks(inv, h->slot);
  }
  return NULL;
}

/* fork(): the child has only the forking thread.  prepare takes the pool
 * (waiting for a live job to end) so its state is whole; the child forgets
 * the helpers (their memory is not freed: their mutexes may be held) and
 * makes new ones on demand. */
static void atfork_prepare(void) { pthread_mutex_lock(&pool.lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&pool.lock); }
static void atfork_child(void) {
  pthread_mutex_init(&done_mu, NULL);
  pthread_cond_init(&done_cv, NULL);
  atomic_store(&caller_waiting, 0);
  pool.helpers = NULL;
  pool.nhelpers = pool.cap = 0;
  pthread_mutex_init(&pool.lock, NULL);
}
static void pool_init(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

/* Makes helpers up to `want` (under pool.lock); returns how many exist. */
static int grow(int want) {
  if (want <= pool.nhelpers) return want;
  if (want > pool.cap) {
    int cap = pool.cap ? pool.cap : 4;
    while (cap < want) cap *= 2;
    fp__helper **p = (fp__helper **)realloc(pool.helpers, (size_t)cap * sizeof(*p));
    if (!p) return pool.nhelpers;
    pool.helpers = p;
    pool.cap = cap;
  }
  while (pool.nhelpers < want) {
    fp__helper *h = (fp__helper *)calloc(1, sizeof(*h));
    if (!h) break;
    h->slot = pool.nhelpers + 1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    atomic_init(&h->invite, 0);
    atomic_init(&h->sleeping, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int rc = pthread_create(&h->thread, &attr, helper_main, h);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      /* no thread to be had (a limit): run with the helpers there are */
      pthread_cond_destroy(&h->cv);
      pthread_mutex_destroy(&h->mu);
      free(h);
      break;
    }
    pool.helpers[pool.nhelpers++] = h;
  }
  return pool.nhelpers;
}

static void invite(fp__helper *h, uint32_t job) {
  atomic_store(&h->invite, job);
  if (atomic_load(&h->sleeping)) {
    pthread_mutex_lock(&h->mu);
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
  }
}

void fp__parallel(int nt, int64_t items, fp__chunk_fn fn, void *ctx) {
  if (items <= 0) return;
  if (nt <= 1 || items == 1 || in_pool) {
    fn(ctx, 0, items, 0);
    return;
  }
  pthread_once(&pool_once, pool_init);
  if (pthread_mutex_trylock(&pool.lock) != 0) {
    /* another call has the pool: this one runs on its own thread */
    fn(ctx, 0, items, 0);
    return;
  }
  const int helpers = grow(nt - 1);
  nt = helpers + 1;
  const int64_t nchunks = parallel_chunks(nt, items);
  if (nt <= 1 || nchunks <= 1) {
    pthread_mutex_unlock(&pool.lock);
    fn(ctx, 0, items, 0);
    return;
  }
  if (++pool.job == 0) pool.job = 1;
  const uint32_t job = pool.job;
  pool.fn = fn;
  pool.ctx = ctx;
  pool.items = items;
  pool.nchunks = nchunks;
  atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
  atomic_store_explicit(&pool.claim, CLAIM(job, nchunks, 0), memory_order_release);
  const int asked = (int)(nchunks - 1 < nt - 1 ? nchunks - 1 : nt - 1);
  for (int i = 0; i < asked; i++) invite(pool.helpers[i], job);
  in_pool = 1;
  const int64_t t0 = now_ns();
  const int64_t mine = run_chunks(job, 0);
  in_pool = 0;
  /* Wait for the chunks helpers still run.  A running helper finishes its
   * chunk within about a chunk's time: spin that long (twice the mean time
   * of this thread's chunks, at least FP_SPIN_NS).  Past that the helper has
   * most likely lost its core to another thread: sleep, so that this core
   * goes idle and the scheduler moves the helper onto it, instead of
   * spinning here while it waits behind another process. */
  if (atomic_load_explicit(&pool.done, memory_order_acquire) < nchunks) {
    const int64_t t1 = now_ns();
    int64_t budget = mine > 0 ? 2 * (t1 - t0) / mine : FP_SPIN_NS;
    if (budget < FP_SPIN_NS) budget = FP_SPIN_NS;
    const int64_t until = t1 + budget;
    for (int i = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < nchunks; i++) {
      FP_PAUSE();
      if ((i & 63) == 0 && now_ns() > until) {
        pthread_mutex_lock(&done_mu);
        atomic_store(&caller_waiting, 1);
        while (atomic_load(&pool.done) < nchunks) pthread_cond_wait(&done_cv, &done_mu);
        atomic_store(&caller_waiting, 0);
        pthread_mutex_unlock(&done_mu);
        break;
      }
    }
  }
  pthread_mutex_unlock(&pool.lock);
}

#endif /* FP_HAVE_POOL */
