// SPDX-License-Identifier: MIT
/*
 * The BAR1 layout and the two rings of a channel.
 *
 * Besides single-threaded cases (wrap-around, full ring, corrupt records,
 * stale bytes that must not pass for a record) this runs the protocol as it
 * runs for real: many producer threads and one consumer sharing one channel,
 * with doorbell and interrupt suppression and eventfds standing in for the
 * doorbell and the interrupt.  Nothing may be lost, nothing reordered within
 * a producer, and no wake-up may be missed (a missed one shows as a timeout).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/bar1.h"
#include "vgpu/ring.h"
#include "test.h"

static void test_layout(void)
{
	struct vgpu_layout l, g;
	struct vgpu_bar1_header *h = calloc(1, 4096);

	CHECK(vgpu_layout_default_channels(16 << 20) == 4);
	CHECK(vgpu_layout_default_channels(1 << 20) == 1);
	CHECK(vgpu_layout_default_channels(1ull << 40) == VGPU_MAX_CHANNELS);
	CHECK(vgpu_layout_compute(16 << 20, 4, 0, &l) == 0);
	CHECK(l.channel_offset == VGPU_BAR1_HEADER_SIZE);
	CHECK(l.channel_offset + 4 * l.channel_stride <= (16u << 20));
	CHECK(l.sq_offset >= sizeof(struct vgpu_channel_ctrl));
	CHECK(l.cq_offset == l.sq_offset + l.sq_size);
	CHECK(l.bulk_offset >= l.cq_offset + l.cq_size);
	CHECK(l.bulk_offset + l.bulk_size <= l.channel_stride);
	CHECK(l.bulk_size > (3u << 20));
	CHECK(vgpu_layout_compute(256 << 20, 1, 64 << 20, &l) == 0);
	CHECK(l.heap_offset == (192u << 20) && l.heap_size == (64u << 20));
	CHECK(l.channel_offset + l.channel_stride <= l.heap_offset);
	/* Too small, no channels, unaligned. */
	CHECK(vgpu_layout_compute(128 << 10, 1, 0, &l) != 0);
	CHECK(vgpu_layout_compute(16 << 20, 0, 0, &l) != 0);
	CHECK(vgpu_layout_compute((16 << 20) + 1, 4, 0, &l) != 0);
	CHECK(vgpu_layout_compute(16 << 20, 65, 0, &l) != 0);

	CHECK(vgpu_layout_compute(16 << 20, 4, 0, &l) == 0);
	vgpu_layout_write_header(&l, 7, 1ull << 32, h);
	CHECK(vgpu_layout_from_header(h, 16 << 20, &g) == 0);
	CHECK(!memcmp(&l, &g, sizeof(l)));
	CHECK(vgpu_layout_from_header(h, 32 << 20, &g) != 0);	/* not this BAR's size */
	h->sq_size = 3 << 16;					/* not a power of two */
	CHECK(vgpu_layout_from_header(h, 16 << 20, &g) != 0);
	vgpu_layout_write_header(&l, 7, 0, h);
	h->bulk_size = l.channel_stride;			/* bulk past the channel */
	CHECK(vgpu_layout_from_header(h, 16 << 20, &g) != 0);
	vgpu_layout_write_header(&l, 7, 0, h);
	h->channel_count = 1000;
	CHECK(vgpu_layout_from_header(h, 16 << 20, &g) != 0);
	vgpu_layout_write_header(&l, 7, 0, h);
	h->magic = 0;
	CHECK(vgpu_layout_from_header(h, 16 << 20, &g) != 0);
	free(h);
}

struct chan {
	struct vgpu_channel_ctrl *ctrl;
	uint8_t *ring;
	struct vgpu_completion *cq;
	uint64_t sq_size;
	uint32_t cq_entries;
};

static struct chan chan_new(uint64_t sq_size, uint32_t cq_entries)
{
	struct chan c = {
		.ctrl = aligned_alloc(4096, 4096),
		.ring = aligned_alloc(4096, sq_size),
		.cq = aligned_alloc(4096, cq_entries * sizeof(struct vgpu_completion)),
		.sq_size = sq_size,
		.cq_entries = cq_entries,
	};

	memset(c.ctrl, 0, 4096);
	memset(c.ring, 0, sq_size);
	memset(c.cq, 0, cq_entries * sizeof(struct vgpu_completion));
	return c;
}

static void chan_free(struct chan *c)
{
	free(c->ctrl);
	free(c->ring);
	free(c->cq);
}

static struct vgpu_cmd_hdr *put(struct vgpu_sq_producer *p, uint16_t op, const void *payload,
				size_t len)
{
	uint64_t pos;
	struct vgpu_cmd_hdr *h = vgpu_sq_reserve(p, vgpu_rec_size(len), &pos);

	if (!h)
		return NULL;
	h->size = vgpu_rec_size(len);
	h->opcode = op;
	h->flags = 0;
	h->tag = pos;
	memcpy(h + 1, payload, len);
	vgpu_sq_commit(p, h, pos);
	return h;
}

static void test_sq_basic(void)
{
	struct chan c = chan_new(4096, 16);
	struct vgpu_sq_producer p = { c.ring, c.sq_size, c.ctrl };
	struct vgpu_sq_consumer q = { c.ring, c.sq_size, 0, c.ctrl };
	uint8_t buf[4096], payload[200];
	struct vgpu_cmd_hdr *r = (void *)buf;
	int produced = 0, consumed = 0;

	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_EMPTY);
	CHECK(!vgpu_sq_ready(&q));
	/* Records that do not fit the alignment rules or the size cap are refused. */
	uint64_t pos;
	CHECK(vgpu_sq_reserve(&p, 33, &pos) == NULL);
	CHECK(vgpu_sq_reserve(&p, 16, &pos) == NULL);
	CHECK(vgpu_sq_reserve(&p, 2048, &pos) == NULL);	/* over a quarter of the ring */

	/* Many laps with sizes that force pads at the end. */
	for (int round = 0; round < 500; round++) {
		size_t len = (size_t)(round * 37) % sizeof(payload);

		memset(payload, round & 0xff, len);
		while (!put(&p, 5, payload, len)) {
			/* Full: consume one and retry. */
			CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_RECORD);
			consumed++;
		}
		produced++;
	}
	while (vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_RECORD) {
		CHECK(r->opcode == 5);
		consumed++;
	}
	CHECK(produced == consumed);
	CHECK(c.ctrl->sq_head == c.ctrl->sq_reserve);

	/*
	 * Stale bytes: a record's payload carries, one granule in, the very
	 * seal a record starting there on the next lap will have.  The consumer
	 * clears the seal word of every granule it consumed, so when the ring
	 * comes round that word is no seal, and a record reserved there is not
	 * consumed before the producer's commit.
	 */
	uint64_t head = q.head, later = head + 32 + c.sq_size;
	uint8_t stale[64] = { 0 };

	memcpy(stale, &(uint64_t){ later + 1 }, sizeof(uint64_t));	/* granule 1 of the record */
	CHECK(put(&p, 8, stale, sizeof(stale)));			/* 96 bytes at head */
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_RECORD && r->opcode == 8);
	/* Header-only records round the ring until the next one starts at @later. */
	while (c.ctrl->sq_reserve < later) {
		CHECK(put(&p, 5, stale, 0));
		CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_RECORD);
	}
	struct vgpu_cmd_hdr *h = vgpu_sq_reserve(&p, 64, &pos);
	CHECK(h && pos == later);
	CHECK(h->seal != later + 1);	/* the stale seal was cleared when it was consumed */
	h->size = 64;
	h->opcode = 9;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_EMPTY);
	/* A seal of another lap, or any other non-zero word, is not this record's either. */
	h->seal = later + 1 - c.sq_size;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_EMPTY);
	h->seal = later + 1 + c.sq_size;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_EMPTY);
	h->seal = 0;
	vgpu_sq_commit(&p, h, pos);
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_RECORD && r->opcode == 9);
	/* The consumer cleared the seal words of what it consumed. */
	for (uint64_t i = 0; i < 64; i += 32)
		CHECK(*(uint64_t *)(c.ring + ((later + i) & (c.sq_size - 1))) == 0);
	chan_free(&c);
}

static void test_sq_corrupt(void)
{
	struct chan c = chan_new(4096, 16);
	struct vgpu_sq_consumer q = { c.ring, c.sq_size, 0, c.ctrl };
	struct vgpu_cmd_hdr *h = (void *)c.ring;
	uint8_t buf[8192];

	/* A size that is not a multiple of the granule. */
	h->size = 40;
	h->opcode = 3;
	h->seal = 1;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_CORRUPT);
	/* Zero size (would loop forever). */
	h->size = 0;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_CORRUPT);
	/* Crossing the end of the ring. */
	h->size = 8192;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_CORRUPT);
	/* Larger than the consumer's buffer. */
	h->size = 4096;
	CHECK(vgpu_sq_pop(&q, buf, 1024) == VGPU_SQ_CORRUPT);
	/* A valid one after all that. */
	h->size = 32;
	CHECK(vgpu_sq_pop(&q, buf, sizeof(buf)) == VGPU_SQ_RECORD);
	CHECK(q.head == 32 && c.ctrl->sq_head == 32);
	chan_free(&c);
}

static void test_cq_basic(void)
{
	struct chan c = chan_new(4096, 8);
	struct vgpu_cq_producer p = { c.cq, 8, 0, c.ctrl };
	struct vgpu_cq_consumer q = { c.cq, 8, 0, c.ctrl };
	struct vgpu_completion e;
	uint64_t big[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	CHECK(!vgpu_cq_pop(&q, &e));
	CHECK(vgpu_cq_space(&p) == 8);
	for (int i = 0; i < 8; i++)
		vgpu_cq_post(&p, 100 + i, (uint32_t)i, &i, sizeof(i));
	CHECK(vgpu_cq_space(&p) == 0);
	for (int i = 0; i < 8; i++) {
		CHECK(vgpu_cq_pop(&q, &e));
		CHECK(e.tag == 100u + i && e.status == (uint32_t)i && e.len == sizeof(int));
	}
	CHECK(!vgpu_cq_pop(&q, &e));
	CHECK(vgpu_cq_space(&p) == 8);
	/* Inline data is capped. */
	vgpu_cq_post(&p, 1, 0, big, sizeof(big));
	CHECK(vgpu_cq_pop(&q, &e) && e.len == VGPU_CQ_INLINE);
	/* A head the guest could not have published reads as a full ring. */
	c.ctrl->cq_head = 1000;
	CHECK(vgpu_cq_space(&p) == 0);
	c.ctrl->cq_head = 0;
	CHECK(vgpu_cq_space(&p) == 0);	/* more than a ring behind */
	chan_free(&c);
}

/* ---- the doorbell handshake, as a litmus test ---- */

/*
 * A producer's commit (store the seal, fence, load sq_need_doorbell) against
 * the consumer going to sleep (store sq_need_doorbell, fence, re-check the
 * ring): at least one side must see the other's store, or the record waits
 * with nobody awake to take it.  Without the fence in vgpu_sq_commit the CPU
 * may let the load pass the store (x86 does: store buffering), and both miss.
 * The two sides start each round together, as often as the machine lets the
 * threads run at once; a few seconds see thousands of such races.
 */
struct litmus {
	struct chan c;
	uint64_t go;		/* round number the producer may run */
	uint64_t done;		/* rounds the producer finished */
	uint32_t rang;		/* the producer's commit said: ring the doorbell */
	uint64_t rounds;
};

static void spin_until(const uint64_t *v, uint64_t want)
{
	for (uint32_t n = 0; __atomic_load_n(v, __ATOMIC_ACQUIRE) < want; n++)
		if (n > 10000)
			sched_yield();	/* the other thread is not running: let it */
}

static void pause_for(uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		__builtin_ia32_pause();
}

static void *litmus_producer(void *arg)
{
	struct litmus *l = arg;
	struct vgpu_sq_producer p = { l->c.ring, l->c.sq_size, l->c.ctrl };

	for (uint64_t i = 1; i <= __atomic_load_n(&l->rounds, __ATOMIC_ACQUIRE); i++) {
		spin_until(&l->go, i);
		pause_for((uint32_t)(i * 7) % 24);
		/* Position i laps round to offset 0: one record word, a new seal each round. */
		l->rang = vgpu_sq_commit(&p, (struct vgpu_cmd_hdr *)l->c.ring, i * l->c.sq_size);
		__atomic_store_n(&l->done, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_commit_fence(void)
{
	struct litmus l = { .c = chan_new(4096, 16), .rounds = 2000000 };
	struct vgpu_sq_consumer q = { l.c.ring, l.c.sq_size, 0, l.c.ctrl };
	uint64_t lost = 0, i;
	time_t end = time(NULL) + 4;
	pthread_t t;

	pthread_create(&t, NULL, litmus_producer, &l);
	for (i = 1; i <= l.rounds; i++) {
		bool seen;

		vgpu_store32(&l.c.ctrl->sq_need_doorbell, 0);
		q.head = i * l.c.sq_size;
		__atomic_store_n(&l.go, i, __ATOMIC_RELEASE);
		/* Varied head starts make the two sides' stores meet in every order. */
		pause_for((uint32_t)(i * 13) % 32);
		/* The consumer's way to sleep. */
		vgpu_store32(&l.c.ctrl->sq_need_doorbell, 1);
		vgpu_full_fence();
		seen = vgpu_sq_ready(&q);
		spin_until(&l.done, i);
		if (!seen && !l.rang)
			lost++;
		if ((i & 1023) == 0 && time(NULL) > end)
			break;
	}
	/* Let the producer finish: no more rounds are started for it. */
	__atomic_store_n(&l.rounds, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&l.go, UINT64_MAX, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	printf("doorbell litmus: %lu rounds, %lu lost wake-ups\n", (unsigned long)i, (unsigned long)lost);
	CHECK(lost == 0);
	chan_free(&l.c);
}

/*
 * The litmus test above needs the two threads to run at the same instant,
 * which a loaded machine may not give it.  This check does not: the
 * compiler's code for vgpu_sq_commit must hold a full barrier between the
 * seal's store and the doorbell flag's load (x86: mfence or a locked
 * instruction; Arm: dmb).
 */
static void test_commit_has_barrier(void)
{
	static const char src[] =
		"#include \"vgpu/ring.h\"\n"
		"bool vgpu_commit_probe(struct vgpu_sq_producer *q, struct vgpu_cmd_hdr *h,"
		" uint64_t pos) { return vgpu_sq_commit(q, h, pos); }\n";
	char cmd[1024], line[512], path[] = "/tmp/vgpu-ring-probe-XXXXXX";
	bool in = false, barrier = false, seen = false;
	int fd = mkstemp(path);
	FILE *f;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, src, sizeof(src) - 1) == (ssize_t)(sizeof(src) - 1));
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s -std=c17 -O2 -I%s -x c -S -o - %s", TEST_CC, TEST_INCLUDE,
		 path);
	f = popen(cmd, "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "vgpu_commit_probe:", 18))
			in = seen = true;
		else if (in && (strstr(line, ".cfi_endproc") || strstr(line, ".size")))
			in = false;
		else if (in && (strstr(line, "mfence") || strstr(line, "lock") ||
				strstr(line, "xchg") || strstr(line, "dmb")))
			barrier = true;
	}
	CHECK(f && pclose(f) == 0);
	unlink(path);
	CHECK(seen);
	CHECK(barrier);
}

/* ---- the stress test ---- */

#define PRODUCERS 8
#define PER_PRODUCER 50000

struct stress {
	struct chan c;
	struct vgpu_sq_producer p;
	int doorbell;
	int irq;
	uint64_t doorbells;
	uint64_t irqs;
	uint32_t next_producer_id;
};

struct rec {
	uint32_t producer;
	uint32_t seq;
	uint32_t len;
	uint32_t sum;
	uint8_t data[];
};

static void ring_eventfd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/* Wait up to 5 s for the eventfd; false on timeout (a lost wake-up). */
static bool wait_eventfd(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, 5000) != 1)
		return false;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		abort();
	return true;
}

static void *producer(void *arg)
{
	struct stress *s = arg;
	uint32_t id = __atomic_fetch_add(&s->next_producer_id, 1, __ATOMIC_RELAXED);
	unsigned int seed = id;

	for (uint32_t seq = 0; seq < PER_PRODUCER; seq++) {
		uint32_t len = (uint32_t)rand_r(&seed) % 700;
		uint32_t size = vgpu_rec_size(sizeof(struct rec) + len);
		struct vgpu_cmd_hdr *h;
		struct rec *r;
		uint64_t pos;
		int spins = 0;

		while (!(h = vgpu_sq_reserve(&s->p, size, &pos))) {
			/* Full: the consumer is awake (it has work); let it run. */
			if (++spins > 100)
				sched_yield();
		}
		h->size = size;
		h->opcode = 7;
		h->flags = 0;
		h->tag = 0;
		r = (struct rec *)(h + 1);
		r->producer = id;
		r->seq = seq;
		r->len = len;
		r->sum = 0;
		for (uint32_t i = 0; i < len; i++) {
			r->data[i] = (uint8_t)(seq * 31 + i + id);
			r->sum += r->data[i];
		}
		if (vgpu_sq_commit(&s->p, h, pos)) {
			__atomic_fetch_add(&s->doorbells, 1, __ATOMIC_RELAXED);
			ring_eventfd(s->doorbell);
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct stress *s = arg;
	struct vgpu_sq_consumer q = { s->c.ring, s->c.sq_size, 0, s->c.ctrl };
	struct vgpu_cq_producer cq = { s->c.cq, s->c.cq_entries, 0, s->c.ctrl };
	uint32_t next[PRODUCERS] = { 0 };
	uint64_t total = 0;
	uint8_t *buf = malloc(s->c.sq_size);
	long bad = 0;

	while (total < (uint64_t)PRODUCERS * PER_PRODUCER) {
		enum vgpu_sq_result res = vgpu_sq_pop(&q, buf, s->c.sq_size);

		if (res == VGPU_SQ_CORRUPT) {
			bad++;
			break;
		}
		if (res == VGPU_SQ_EMPTY) {
			/* Sleep protocol: announce, fence, re-check, then block. */
			vgpu_store32(&s->c.ctrl->sq_need_doorbell, 1);
			vgpu_full_fence();
			if (!vgpu_sq_ready(&q) && !wait_eventfd(s->doorbell)) {
				fprintf(stderr, "consumer: lost doorbell after %lu records\n",
					(unsigned long)total);
				bad++;
				break;
			}
			vgpu_store32(&s->c.ctrl->sq_need_doorbell, 0);
			continue;
		}
		struct rec *r = (struct rec *)(buf + sizeof(struct vgpu_cmd_hdr));
		uint32_t sum = 0;

		if (r->producer >= PRODUCERS || r->seq != next[r->producer]) {
			fprintf(stderr, "producer %u: seq %u, expected %u\n", r->producer, r->seq,
				r->producer < PRODUCERS ? next[r->producer] : 0);
			bad++;
			break;
		}
		next[r->producer]++;
		for (uint32_t i = 0; i < r->len; i++)
			sum += r->data[i];
		if (sum != r->sum)
			bad++;
		total++;
		/* Every 64th record gets a completion, as a sync call would. */
		if (total % 64 == 0) {
			while (!vgpu_cq_space(&cq))
				sched_yield();
			if (vgpu_cq_post(&cq, total, 0, NULL, 0)) {
				__atomic_fetch_add(&s->irqs, 1, __ATOMIC_RELAXED);
				ring_eventfd(s->irq);
			}
		}
	}
	free(buf);
	return (void *)bad;
}

/* The guest's completion consumer, sleeping with interrupt suppression. */
static void *completion_reader(void *arg)
{
	struct stress *s = arg;
	struct vgpu_cq_consumer q = { s->c.cq, s->c.cq_entries, 0, s->c.ctrl };
	uint64_t want = (uint64_t)PRODUCERS * PER_PRODUCER / 64, got = 0, expect_tag = 64;
	struct vgpu_completion e;
	long bad = 0;

	while (got < want) {
		if (vgpu_cq_pop(&q, &e)) {
			if (e.tag != expect_tag)
				bad++;
			expect_tag += 64;
			got++;
			continue;
		}
		vgpu_store32(&s->c.ctrl->cq_need_irq, 1);
		vgpu_full_fence();
		if (vgpu_cq_pop(&q, &e)) {
			vgpu_store32(&s->c.ctrl->cq_need_irq, 0);
			if (e.tag != expect_tag)
				bad++;
			expect_tag += 64;
			got++;
			continue;
		}
		if (!wait_eventfd(s->irq)) {
			fprintf(stderr, "completions: lost interrupt after %lu\n", (unsigned long)got);
			bad++;
			break;
		}
		vgpu_store32(&s->c.ctrl->cq_need_irq, 0);
	}
	return (void *)bad;
}

static void test_stress(uint64_t sq_size)
{
	struct stress s = { .c = chan_new(sq_size, 16) };
	pthread_t prod[PRODUCERS], cons, comp;
	void *bad_cons, *bad_comp;

	s.p = (struct vgpu_sq_producer){ s.c.ring, s.c.sq_size, s.c.ctrl };
	s.doorbell = eventfd(0, 0);
	s.irq = eventfd(0, 0);
	pthread_create(&cons, NULL, consumer, &s);
	pthread_create(&comp, NULL, completion_reader, &s);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&prod[i], NULL, producer, &s);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(prod[i], NULL);
	pthread_join(cons, &bad_cons);
	pthread_join(comp, &bad_comp);
	CHECK(bad_cons == NULL);
	CHECK(bad_comp == NULL);
	CHECK(s.c.ctrl->sq_head == s.c.ctrl->sq_reserve);
	printf("stress (ring %lu KiB): %d producers x %d records, %lu doorbells, %lu interrupts\n",
	       (unsigned long)(sq_size >> 10), PRODUCERS, PER_PRODUCER,
	       (unsigned long)s.doorbells, (unsigned long)s.irqs);
	close(s.doorbell);
	close(s.irq);
	chan_free(&s.c);
}

int main(void)
{
	test_layout();
	test_sq_basic();
	test_sq_corrupt();
	test_cq_basic();
	test_commit_fence();
	test_commit_has_barrier();
	test_stress(16 << 10);	/* small: constant wrapping and full-ring waits */
	test_stress(256 << 10);
	return TEST_RESULT();
}
