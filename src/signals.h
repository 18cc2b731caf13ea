/* signals.h - what the runtime needs from signal.c (named so that it can
 * never stand in for the system's <signal.h>).
 */
#ifndef WEFT_SIGNALS_H
#define WEFT_SIGNALS_H

#include "task.h"

/* weft_run's SIGINT and SIGTERM cancel main (each if it is at its
 * default disposition): armed when main starts, disarmed once main has
 * returned. 0 or -errno. */
int weft__signal_arm_stop(weft_task_t *main);
void weft__signal_disarm_stop(void);
/* The calling thread's signal state closes with its loop, after every
 * task has ended: masks and dispositions are given back. */
void weft__signal_close(void);

#endif
