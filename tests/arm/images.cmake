# The agent's unit tests as bare-metal images for QEMU mps2-an386 (Cortex-M4), included by
# agent/port/cortex-m/CMakeLists.txt when WARD_ARM_TESTS is ON; scripts/arm-test builds and runs
# them (CTest: agent-unit-cortex-m4).
#
# Each test file — a tests/unit/agent/test_*.c or tests/arm/test_*.c with a main() — becomes
# arm-<name>.elf: the same file the host builds with cmocka, the core, the stand-ins for cmocka
# (tests/arm/include/cmocka.h, cmocka_shim.c) and libcbor (include/cbor.h, cbor_mini.c), and the
# startup code, with newlib and Arm semihosting (librdimon) for stdio and exit(). The other .c
# files of tests/unit/agent (helpers without a main(), such as test_util.c) are linked into every
# image, as the host links them into every test.
#
# A test file that needs what a bare-metal target cannot have (files, sockets, a host library the
# stand-ins do not cover) is not built: either it contains the marker "ward-test: host-only" (in
# a comment, with the reason), or it is listed in tests/arm/host-only.txt. scripts/arm-test prints
# both, so nothing is left out silently.
#
# Output: ${CMAKE_BINARY_DIR}/arm-tests.txt, one line per test file: "run <image>" or
# "excluded <file> <reason>".

set(WARD_ARM_TEST_DIR ${WARD_ROOT}/tests/arm)
file(GLOB ward_arm_unit_files CONFIGURE_DEPENDS ${WARD_ROOT}/tests/unit/agent/*.c)
file(GLOB ward_arm_own_tests CONFIGURE_DEPENDS ${WARD_ARM_TEST_DIR}/test_*.c)
set(ward_arm_unit_tests "")
set(ward_arm_unit_helpers "")
# Which files are tests, and their markers, are read from their text: reconfigure when it changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${ward_arm_unit_files}
             ${ward_arm_own_tests} ${WARD_ARM_TEST_DIR}/host-only.txt)
foreach(f ${ward_arm_unit_files})
  get_filename_component(fname ${f} NAME)
  file(READ ${f} text)
  if(fname MATCHES "^test_" AND text MATCHES "int[ \t\r\n]+main[ \t]*\\(")
    list(APPEND ward_arm_unit_tests ${f})
  else()
    list(APPEND ward_arm_unit_helpers ${f})
  endif()
endforeach()

# tests/arm/host-only.txt: "<file name> <reason...>" per line; # starts a comment.
set(ward_arm_host_only "")
if(EXISTS ${WARD_ARM_TEST_DIR}/host-only.txt)
  file(STRINGS ${WARD_ARM_TEST_DIR}/host-only.txt lines)
  foreach(line ${lines})
    string(REGEX REPLACE "#.*" "" line "${line}")
    string(STRIP "${line}" line)
    if(line MATCHES "^([^ \t]+)[ \t]*(.*)$")
      list(APPEND ward_arm_host_only ${CMAKE_MATCH_1})
      set(ward_arm_reason_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
    endif()
  endforeach()
endif()

set(ward_arm_manifest "")
set(ward_arm_helpers_used "")
foreach(helper ${ward_arm_unit_helpers})
  get_filename_component(hname ${helper} NAME)
  file(READ ${helper} text)
  if(text MATCHES "ward-test: host-only" OR hname IN_LIST ward_arm_host_only)
    string(APPEND ward_arm_manifest "excluded ${hname} helper: host-only\n")
  else()
    list(APPEND ward_arm_helpers_used ${helper})
  endif()
endforeach()

# The stand-ins for cmocka and libcbor, and C99 printf formats, built once.
add_library(ward_arm_testlib STATIC ${WARD_ARM_TEST_DIR}/cmocka_shim.c ${WARD_ARM_TEST_DIR}/cbor_mini.c
                                    ${WARD_ARM_TEST_DIR}/printf_c99.c)
target_include_directories(ward_arm_testlib PUBLIC ${WARD_ARM_TEST_DIR}/include)
target_compile_options(ward_arm_testlib PRIVATE -Wall -Wextra -Werror)

# Startup for test images: semihosting, exit(main()).
add_library(ward_arm_startup_semihost OBJECT ${WARD_ARM_STARTUP})
target_compile_definitions(ward_arm_startup_semihost PRIVATE WARD_ARM_SEMIHOSTING)

# Every test image: scripts/arm-test builds this target only (not the size images).
add_custom_target(ward-arm-tests)

function(ward_arm_test_image name src)
  add_executable(${name} ${src} ${ward_arm_helpers_used} $<TARGET_OBJECTS:ward_arm_startup_semihost>)
  add_dependencies(ward-arm-tests ${name})
  # The test files are the host's: C11 like the rest of tests/, warnings shown but not fatal here
  # (an ILP32-only printf-format warning in a test must not hide the results; the core itself is
  # built with -Werror).
  set_target_properties(${name} PROPERTIES C_STANDARD 11 C_EXTENSIONS OFF
                                           LINK_DEPENDS "${WARD_ARM_TEST_LDSCRIPT};${WARD_ARM_LDSECTIONS}")
  target_include_directories(${name} BEFORE PRIVATE ${WARD_ARM_TEST_DIR}/include)
  target_include_directories(${name} PRIVATE ${WARD_ROOT}/agent/src ${WARD_ROOT}/tests/unit/agent)
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  target_link_libraries(${name} PRIVATE ward_arm_testlib ward_agent_core)
  target_link_options(${name} PRIVATE -nostartfiles --specs=rdimon.specs -L${WARD_ARM_LDDIR}
                      -T${WARD_ARM_TEST_LDSCRIPT}
                      -Wl,--wrap=printf,--wrap=fprintf,--wrap=vprintf,--wrap=vfprintf
                      -Wl,--wrap=snprintf,--wrap=vsnprintf)
endfunction()

foreach(src ${ward_arm_unit_tests} ${ward_arm_own_tests})
  get_filename_component(fname ${src} NAME)
  get_filename_component(base ${src} NAME_WE)
  file(READ ${src} text)
  if(text MATCHES "ward-test: host-only")
    string(APPEND ward_arm_manifest "excluded ${fname} marked \"ward-test: host-only\" in the file\n")
  elseif(fname IN_LIST ward_arm_host_only)
    string(APPEND ward_arm_manifest "excluded ${fname} tests/arm/host-only.txt: ${ward_arm_reason_${fname}}\n")
  else()
    ward_arm_test_image(arm-${base} ${src})
    string(APPEND ward_arm_manifest "run arm-${base}.elf\n")
  endif()
endforeach()

# A test that must fail: scripts/arm-test checks that it does, so a runner or exit-code path
# that always reports success cannot go unnoticed.
ward_arm_test_image(arm-selftest-fail ${WARD_ARM_TEST_DIR}/selftest_fail.c)

file(WRITE ${CMAKE_BINARY_DIR}/arm-tests.txt "${ward_arm_manifest}")
