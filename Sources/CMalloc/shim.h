// glibc's malloc tuning (mallopt) for the engine's ProcessMemory.
#include <malloc.h>
