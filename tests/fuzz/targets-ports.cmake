# The ports' parsers of untrusted text: ward-agent's /proc/net reader (agent/port/posix/procnet.c).
if(TARGET ward_posix_procnet)
  ward_add_fuzz(procnet ward_posix_procnet)
endif()
