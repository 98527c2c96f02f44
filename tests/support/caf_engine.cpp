// CAF's unit-test engine, which test_coordinator_fixture reads its
// arguments from; doctest owns main().
#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp>
