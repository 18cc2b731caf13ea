/* A program outside the project: built against an installed weft. */
#include <stdio.h>
#include <weft.h>

int main(void)
{
    const char *v = weft_version();
    if (v == NULL) {
        fprintf(stderr, "weft_version() returned NULL\n");
        return 1;
    }
    printf("weft %s\n", v);
    return 0;
}
