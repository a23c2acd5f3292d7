#include <cblas.h>
// OpenBLAS extensions (declared in its cblas.h; repeated here for clarity).
