/*
 * raw_pipeline: the control for the pipeline section of make bench (consume -> transform ->
 * produce), librdkafka alone. It consumes TOPIC as raw_consumer's batch mode does, upper-cases
 * each value (ASCII a-z), produces it to OUTPUT_TOPIC (no key, the partitioner picks), and stores
 * a batch's offsets only once every record of that batch and of every batch before it is
 * delivered: at-least-once, the contract the host keeps with an output binding.
 *
 * Deliveries are tracked asynchronously: each batch carries a count of records not yet
 * acknowledged; a delivery thread serves the producer's delivery reports, counts them down, and
 * stores the offsets of the settled batches at the head of the queue, in consume order. The
 * consumer goes on fetching and producing meanwhile; it never waits for an acknowledgement
 * (only for room in the producer's queue, RD_KAFKA_MSG_F_BLOCK, which is backpressure).
 * A record that is not delivered (librdkafka gave up retrying) ends the program with status 1
 * and its batch's offsets are never stored.
 *
 * usage: raw_pipeline BOOTSTRAP TOPIC OUTPUT_TOPIC GROUP EXPECTED RESULT_FILE [NAME=VALUE...]
 * Consumer: the properties of raw_consumer (auto commit every 200 ms of the stored offsets,
 * enable.auto.offset.store false, earliest). Producer: linger.ms 5 and enable.idempotence true,
 * the defaults the host's output bindings are to use. NAME=VALUE sets a consumer property,
 * producer.NAME=VALUE a producer one, after (over) those. bench/run.py passes the consumer
 * properties the host sets (host_consumer_properties: against the mock cluster on 2.0.2,
 * fetch.wait.max.ms 5 and topic.metadata.refresh.interval.ms 50): with librdkafka's defaults this
 * loop stalls for up to a second each time its local queue reaches queued.min.messages (100,000;
 * bench/STALL.md), which only runs of more inputs than that can reach, and loses up to
 * fetch.wait.max.ms (500 ms) at the start, so it slowed as runs got longer (BENCHMARKS.md,
 * "The pipeline control").
 * Writes "FIRST_NS LAST_NS COUNT" (CLOCK_MONOTONIC: the first message fetched, the delivery
 * report that confirmed the EXPECTED-th output record) to RESULT_FILE once EXPECTED records are
 * delivered, then keeps running until SIGTERM or SIGINT, when it waits (up to 30 s) for the
 * reports of every queued record, stores the settled batches' offsets, commits, leaves the group
 * and exits.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RAW_NAME "raw_pipeline"
#include "raw_common.h"

/* One consumed batch: the offsets it settles and how many of its records are not yet delivered. */
typedef struct batch {
    atomic_long pending;  /* records produced and not yet reported, + 1 while still producing */
    int partitions;
    int32_t partition[MAX_PARTITIONS < BATCH ? MAX_PARTITIONS : BATCH];
    int64_t next_offset[MAX_PARTITIONS < BATCH ? MAX_PARTITIONS : BATCH];
    struct batch *next;
} batch;

/* Batches in consume order; the consumer appends, the delivery thread settles from the head. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static batch *head = NULL, *tail = NULL;

static rd_kafka_t *consumer, *producer;
static const char *topic, *result_path;
static long long expected = 0, first_ns = 0;
static atomic_llong delivered = 0;
static atomic_int delivery_running = 1;

static void failed(const char *what, rd_kafka_resp_err_t err) {
    fprintf(stderr, "raw_pipeline: %s: %s\n", what, rd_kafka_err2str(err));
    exit(1);
}

/* Delivery reports, on the delivery thread: count the record down in its batch. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
    (void)rk;
    (void)opaque;
    if (message->err) failed("a record was not delivered", message->err);
    atomic_fetch_sub(&((batch *)message->_private)->pending, 1);
    long long count = atomic_fetch_add(&delivered, 1) + 1;
    if (count == expected) {
        FILE *file = fopen(result_path, "w");
        if (file) {
            fprintf(file, "%lld %lld %lld\n", first_ns, now_ns(), count);
            fclose(file);
        }
    }
}

/* Stores the offsets of every settled batch at the head of the queue, in consume order, so that
 * no offset is stored while an earlier record of its partition is still unacknowledged. */
static void settle(void) {
    for (;;) {
        pthread_mutex_lock(&queue_lock);
        batch *settled = head;
        if (!settled || atomic_load(&settled->pending) != 0) {
            pthread_mutex_unlock(&queue_lock);
            return;
        }
        head = settled->next;
        if (!head) tail = NULL;
        pthread_mutex_unlock(&queue_lock);
        rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(settled->partitions);
        for (int i = 0; i < settled->partitions; i++)
            rd_kafka_topic_partition_list_add(offsets, topic, settled->partition[i])->offset = settled->next_offset[i];
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer, offsets);
        /* A partition revoked meanwhile refuses its offsets (its next owner reads them again). */
        if (err && err != RD_KAFKA_RESP_ERR__STATE) failed("offsets store", err);
        rd_kafka_topic_partition_list_destroy(offsets);
        free(settled);
    }
}

static void *serve_deliveries(void *unused) {
    (void)unused;
    while (atomic_load(&delivery_running)) {
        rd_kafka_poll(producer, 10);
        settle();
    }
    return NULL;
}


/* The transform: ASCII upper case into `buffer`, which grows to the largest value. */
static const void *upper_cased(const rd_kafka_message_t *message, size_t *length) {
    static unsigned char *buffer = NULL;
    static size_t capacity = 0;
    *length = message->len;
    if (!message->payload) return NULL;
    if (message->len > capacity) {
        capacity = message->len;
        buffer = realloc(buffer, capacity);
        if (!buffer) {
            fprintf(stderr, "raw_pipeline: out of memory\n");
            exit(1);
        }
    }
    const unsigned char *value = message->payload;
    for (size_t i = 0; i < message->len; i++) {
        unsigned char c = value[i];
        buffer[i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
    }
    return buffer;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC OUTPUT_TOPIC GROUP EXPECTED RESULT_FILE [NAME=VALUE | producer.NAME=VALUE...]\n", argv[0]);
        return 2;
    }
    topic = argv[2];
    const char *output_topic = argv[3];
    expected = atoll(argv[5]);
    result_path = argv[6];

    rd_kafka_conf_t *consumer_conf = rd_kafka_conf_new();
    set(consumer_conf, "bootstrap.servers", argv[1]);
    set(consumer_conf, "group.id", argv[4]);
    set(consumer_conf, "enable.auto.commit", "true");
    set(consumer_conf, "enable.auto.offset.store", "false");
    set(consumer_conf, "auto.commit.interval.ms", "200"); /* the host's default (host.json autoCommitIntervalMs) */
    set(consumer_conf, "auto.offset.reset", "earliest");
    set(consumer_conf, "enable.partition.eof", "false");
    rd_kafka_conf_t *producer_conf = rd_kafka_conf_new();
    set(producer_conf, "bootstrap.servers", argv[1]);
    set(producer_conf, "linger.ms", "5");
    set(producer_conf, "enable.idempotence", "true");
    rd_kafka_conf_set_dr_msg_cb(producer_conf, on_delivery);
    for (int i = 7; i < argc; i++) {
        char *equals = strchr(argv[i], '=');
        if (!equals) {
            fprintf(stderr, "raw_pipeline: '%s' is not NAME=VALUE\n", argv[i]);
            return 2;
        }
        *equals = '\0';
        if (strncmp(argv[i], "producer.", 9) == 0) set(producer_conf, argv[i] + 9, equals + 1);
        else set(consumer_conf, argv[i], equals + 1);
    }
    char error[512];
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf, error, sizeof error);
    if (!producer) {
        fprintf(stderr, "raw_pipeline: producer: %s\n", error);
        return 2;
    }
    rd_kafka_topic_t *output = rd_kafka_topic_new(producer, output_topic, NULL);
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, consumer_conf, error, sizeof error);
    if (!consumer) {
        fprintf(stderr, "raw_pipeline: consumer: %s\n", error);
        return 2;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) failed("subscribe", err);
    stop_on_signals();
    pthread_t delivery_thread;
    pthread_create(&delivery_thread, NULL, serve_deliveries, NULL);

    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);
    rd_kafka_message_t *messages[BATCH];
    static int index_of[MAX_PARTITIONS]; /* partition -> its slot in the batch being built, -1: none */
    memset(index_of, 0xff, sizeof index_of);
    while (!stop_requested) {
        ssize_t count = take(queue, messages, BATCH);
        if (count <= 0) continue;
        if (first_ns == 0) first_ns = now_ns();
        batch *current = calloc(1, sizeof *current);
        if (!current) {
            fprintf(stderr, "raw_pipeline: out of memory\n");
            return 1;
        }
        atomic_init(&current->pending, 1); /* held until every record of the batch is produced */
        pthread_mutex_lock(&queue_lock);
        if (tail) tail->next = current;
        else head = current;
        tail = current;
        pthread_mutex_unlock(&queue_lock);
        for (ssize_t i = 0; i < count; i++) {
            rd_kafka_message_t *message = messages[i];
            if (message->err || message->partition >= MAX_PARTITIONS) continue;
            int slot = index_of[message->partition];
            if (slot < 0) {
                slot = index_of[message->partition] = current->partitions++;
                current->partition[slot] = message->partition;
            }
            current->next_offset[slot] = message->offset + 1;
            size_t length;
            const void *value = upper_cased(message, &length);
            atomic_fetch_add(&current->pending, 1);
            if (rd_kafka_produce(output, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK,
                                 (void *)value, length, NULL, 0, current) == -1)
                failed("produce", rd_kafka_last_error());
        }
        for (int i = 0; i < current->partitions; i++) index_of[current->partition[i]] = -1;
        for (ssize_t i = 0; i < count; i++) rd_kafka_message_destroy(messages[i]);
        atomic_fetch_sub(&current->pending, 1);
    }
    rd_kafka_queue_destroy(queue);

    /* The delivery thread goes on until every queued record is reported (or 30 s pass), so that
     * batches settle on one thread, in order (rd_kafka_flush here would serve reports on this
     * thread too). */
    long long give_up = now_ns() + 30000000000LL;
    while (rd_kafka_outq_len(producer) > 0 && now_ns() < give_up) usleep(1000);
    if (rd_kafka_outq_len(producer) > 0)
        fprintf(stderr, "raw_pipeline: %d records still unacknowledged after 30 s\n", rd_kafka_outq_len(producer));
    atomic_store(&delivery_running, 0);
    pthread_join(delivery_thread, NULL);
    settle();
    err = rd_kafka_commit(consumer, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) fprintf(stderr, "raw_pipeline: commit: %s\n", rd_kafka_err2str(err));
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(output);
    rd_kafka_destroy(producer);
    return 0;
}
