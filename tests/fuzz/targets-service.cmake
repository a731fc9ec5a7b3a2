# The service's parsers of untrusted bytes: reports from devices. (Intel feeds, plain lists
# included, are fuzzed through the loaders: targets-feeds.cmake.)
ward_add_fuzz(report ward_service)
# The report decoder against the one it replaced (tests/unit/service/wire_ref.c): same results.
ward_add_fuzz(report_diff CORPUS report ward_wire_ref)
