# The service's parsers of untrusted bytes: reports from devices, and intel lists from feeds.
ward_add_fuzz(report ward_service)
ward_add_fuzz(intel_list ward_service)
