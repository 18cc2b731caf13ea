/* consumer.cpp - consumer.c compiled as C++ (test/CMakeLists.txt builds it
 * with -std=c++11 and -std=c++20, -pedantic): weft.h must be usable from
 * C++ as it is, extern "C" included. */
#include "consumer.c"
