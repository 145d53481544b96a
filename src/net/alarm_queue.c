/*
 * alarm_queue.c - alarms queued in shared memory for the node worker, so that
 * they are recorded whatever becomes of the transaction that raised them.
 */
#include "net/alarm_queue.h"

#include "base/preload.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/worker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#define ALARM_QUEUE_SLOTS 32

typedef struct QueuedAlarm
{
	char		source[16];
	char		object[64];
	char		severity[16];
	char		problem[128];
	char		detail[512];
} QueuedAlarm;

typedef struct AlarmQueue
{
	slock_t		mutex;
	int			count;
	uint64		dropped;		/* lost because the queue was full */
	QueuedAlarm slots[ALARM_QUEUE_SLOTS];
} AlarmQueue;

static AlarmQueue *queue = NULL;
/* copy that never cuts a character in two (the rows are text in the database's encoding) */
static void
clip_copy(char *dst, const char *src, size_t size)
{
	int			len = pg_mbcliplen(src, (int) strlen(src), (int) size - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
queue_init(void *p)
{
	SpinLockInit(&((AlarmQueue *) p)->mutex);
}

typedef struct Drained
{
	int			n;
	uint64		dropped;
	QueuedAlarm a[ALARM_QUEUE_SLOTS];
} Drained;

static void
record_drained(void *arg)
{
	Drained    *d = (Drained *) arg;

	for (int i = 0; i < d->n; i++)
		(void) alarm_raise(d->a[i].source, d->a[i].object, d->a[i].severity, d->a[i].problem,
						   d->a[i].detail[0] ? d->a[i].detail : NULL);
	if (d->dropped > 0)
		(void) alarm_raise("channel", "alarm queue", "major", "alarms lost",
						   psprintf("%llu alarms found the queue full", (unsigned long long) d->dropped));
}

/* worker pass: record what the backends queued */
static long
drain_pass(void)
{
	Drained		d;
	char		err[256];

	if (queue == NULL)
		return -1;
	SpinLockAcquire(&queue->mutex);
	d.n = queue->count;
	d.dropped = queue->dropped;
	memcpy(d.a, queue->slots, sizeof(QueuedAlarm) * d.n);
	queue->count = 0;
	queue->dropped = 0;
	SpinLockRelease(&queue->mutex);
	if (d.n > 0 || d.dropped > 0)
		(void) worker_guarded(record_drained, &d, err, sizeof(err), NULL);
	return -1;
}

void
alarm_queue_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		preload_shmem_struct("ssn alarm queue", sizeof(AlarmQueue), (void **) &queue, queue_init);
	worker_pass_register("alarms", drain_pass, WORKER_PASS_EVERY_LOOP);
}

void
alarm_raise_durable(const char *source, const char *object, const char *severity,
					const char *problem, const char *detail)
{
	bool		queued = false;

	ereport(LOG,
			(errmsg("ssn alarm (%s, %s): %s: %s", severity, source, object, problem),
			 detail ? errdetail_internal("%s", detail) : 0));
	if (queue != NULL && ssn_shared != NULL)
	{
		QueuedAlarm a;

		clip_copy(a.source, source, sizeof(a.source));
		clip_copy(a.object, object, sizeof(a.object));
		clip_copy(a.severity, severity, sizeof(a.severity));
		clip_copy(a.problem, problem, sizeof(a.problem));
		clip_copy(a.detail, detail ? detail : "", sizeof(a.detail));
		SpinLockAcquire(&queue->mutex);
		if (queue->count < ALARM_QUEUE_SLOTS)
			queue->slots[queue->count++] = a;
		else
			queue->dropped++;
		SpinLockRelease(&queue->mutex);
		queued = true;
		ssn_worker_wake();
	}
	if (!queued)
		(void) alarm_raise(source, object, severity, problem, detail);
}
