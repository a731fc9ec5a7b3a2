# The agent core's sources and include folder, for firmware projects that build the agent without
# ward's CMake: include this file, then compile ${WARD_AGENT_SOURCES} with ${WARD_AGENT_INCLUDE_DIRS}.
set(WARD_AGENT_INCLUDE_DIRS ${CMAKE_CURRENT_LIST_DIR}/include)
set(WARD_AGENT_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/src/status.c
  ${CMAKE_CURRENT_LIST_DIR}/src/agent.c
  ${CMAKE_CURRENT_LIST_DIR}/src/cbor.c
  ${CMAKE_CURRENT_LIST_DIR}/src/config.c
  ${CMAKE_CURRENT_LIST_DIR}/src/detect.c
  ${CMAKE_CURRENT_LIST_DIR}/src/flow.c
  ${CMAKE_CURRENT_LIST_DIR}/src/packet.c
  ${CMAKE_CURRENT_LIST_DIR}/src/report.c
)
