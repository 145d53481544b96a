/*
 * subxact.c - a step in an internal subtransaction.
 */
#include "base/subxact.h"

#include "access/xact.h"
#include "utils/resowner.h"

/*
 * Run fn(arg) in a subtransaction: NULL if it succeeded, else its error (the
 * subtransaction rolled back), for a failure that must not abort the caller.
 */
ErrorData *
try_in_subxact(void (*fn) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile ed = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ed;
}
