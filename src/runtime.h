/* runtime.h - a runtime's life (runtime.c): weft_run, the workers'
 * threads up and down, shutdown, and posts from plain threads.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include "worker.h"

void weft__rt_init(weft__rt_t *rt);
void weft__rt_fini(weft__rt_t *rt);
void weft__rt_set_state(weft__rt_t *rt, int state);
/* weft_run_config's body on a runtime record the caller owns. */
int weft__run(weft__rt_t *rt, const weft_config_t *cfg, weft_task_fn main, void *arg,
              void **result);
/* The number of workers cfg asks for (resolved), or -EINVAL. */
int weft__config_check(const weft_config_t *cfg);

#endif
