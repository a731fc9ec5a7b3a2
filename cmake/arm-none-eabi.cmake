# CMake toolchain file: bare-metal Arm Cortex-M4 with the GNU Arm Embedded toolchain
# (Debian gcc-arm-none-eabi + libnewlib-arm-none-eabi; scripts/deps installs them).
#
#   cmake -S agent/port/cortex-m -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake
#
# The CPU flags are the Cortex-M4 ones the agent's size is measured with (docs/agent-size.md).
# Another Cortex-M core: pass -DWARD_ARM_CPU_FLAGS="-mcpu=cortex-m0plus -mthumb" (or edit below).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(WARD_ARM_PREFIX arm-none-eabi- CACHE STRING "Prefix of the bare-metal Arm GNU tools")
set(CMAKE_C_COMPILER ${WARD_ARM_PREFIX}gcc)
set(CMAKE_ASM_COMPILER ${WARD_ARM_PREFIX}gcc)
set(CMAKE_AR ${WARD_ARM_PREFIX}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${WARD_ARM_PREFIX}ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY ${WARD_ARM_PREFIX}objcopy CACHE FILEPATH "")
set(CMAKE_SIZE ${WARD_ARM_PREFIX}size CACHE FILEPATH "")
set(CMAKE_NM ${WARD_ARM_PREFIX}nm CACHE FILEPATH "")

# There is no OS to run a test executable on: CMake's compiler check links a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(WARD_ARM_CPU_FLAGS "-mcpu=cortex-m4 -mthumb" CACHE STRING "CPU flags for compiling and linking")
set(CMAKE_C_FLAGS_INIT "${WARD_ARM_CPU_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${WARD_ARM_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${WARD_ARM_CPU_FLAGS} -Wl,--gc-sections")
# The projects that use this file (agent/port/cortex-m) default to MinSizeRel: -Os -DNDEBUG.

# Find headers and libraries for the target only, programs on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
