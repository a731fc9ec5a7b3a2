# Feed loaders (service/intel/feeds*.c): text formats through detection, and the JSON formats.
ward_add_fuzz(feed_text ward_intel_feeds)
ward_add_fuzz(feed_json ward_intel_feeds)
