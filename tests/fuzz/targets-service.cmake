# The service's parsers of untrusted bytes: reports from devices. (Intel feeds, plain lists
# included, are fuzzed through the loaders: targets-feeds.cmake.)
ward_add_fuzz(report ward_service)
