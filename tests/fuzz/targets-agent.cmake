# The agent core's fuzz targets (see CMakeLists.txt beside this file). The target also includes the
# core's internal headers (agent/src) to check the report it gets against the parser's view.
ward_add_fuzz(packet ward_agent_core)
foreach(t fuzz-packet-replay fuzz-packet)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../agent/src)
  endif()
endforeach()
ward_add_fuzz(config ward_agent_core)
foreach(t fuzz-config-replay fuzz-config)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../agent/src)
  endif()
endforeach()
