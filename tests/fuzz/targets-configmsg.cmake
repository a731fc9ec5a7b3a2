# The service's reader of config messages (service/config_msg.c: wardctl config show).
ward_add_fuzz(config_msg ward_service)
