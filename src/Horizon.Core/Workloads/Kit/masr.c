/* Horizon MASR: Memory Allocation, Set and Read.
   Allocates BYTES, sets every 64-bit word sequentially to a fixed value, then reads every word
   sequentially; the number of operations depends only on BYTES. usage: masr BYTES */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: masr BYTES\n"); return 2; }
    size_t bytes = strtoull(argv[1], NULL, 10);
    size_t words = bytes / sizeof(uint64_t);
    if (words == 0) { fprintf(stderr, "masr: BYTES too small\n"); return 2; }
    volatile uint64_t *memory = malloc(words * sizeof(uint64_t));
    if (!memory) { fprintf(stderr, "masr: cannot allocate %zu bytes\n", bytes); return 4; }
    const uint64_t value = 0x5a5a5a5a5a5a5a5aULL;
    for (size_t i = 0; i < words; i++) memory[i] = value;
    uint64_t sum = 0;
    for (size_t i = 0; i < words; i++) sum += memory[i];
    if (sum != value * (uint64_t)words) { fprintf(stderr, "masr: read back a wrong sum\n"); return 3; }
    printf("masr bytes=%zu words=%zu\n", words * sizeof(uint64_t), words);
    free((void *)memory);
    return 0;
}
