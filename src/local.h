/* local.h - task-local values (local.c), as far as task.c needs them. */
#ifndef WEFT_LOCAL_H
#define WEFT_LOCAL_H

#include "task.h"

/* A new task's map: its spawner's, shared (a reference more, nothing
 * allocated); NULL when spawned outside a task or when it has none. */
struct weft__locals *weft__local_inherit(weft_task_t *parent);
/* The task lets go of its map (it finished): values no other task holds
 * have their destructors run, on this thread, outside any task. */
void weft__local_release(weft_task_t *t);

#endif
