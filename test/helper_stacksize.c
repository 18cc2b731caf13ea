/* helper_stacksize.c - prints weft_stack_default_size() and exits.
 *
 * test_stack runs it with WEFT_STACK_SIZE in its environment, to see that
 * the variable is read when a process starts using stacks. */
#include <stdio.h>

#include "weft.h"

int main(void)
{
    printf("%zu\n", weft_stack_default_size());
    return 0;
}
