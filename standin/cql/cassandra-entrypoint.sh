#!/bin/bash
# Start Cassandra in the foreground as the cassandra user, with the JVM options of tests/infra/cassandra/up.
set -euo pipefail
S=/var/lib/cassandra
mkdir -p "$S"/{data,commitlog,saved_caches,hints,cdc_raw,triggers,logs}
chown -R cassandra:cassandra "$S"
mapfile -t FILE_OPTS < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' /opt/cassandra/conf/jvm17.options)
exec setpriv --reuid=cassandra --regid=cassandra --init-groups -- \
  java "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
  -XX:TieredStopAtLevel=1 "${FILE_OPTS[@]}" \
  -Dcassandra.config=file:///opt/cassandra/conf/cassandra.yaml \
  -Dlogback.configurationFile=file:///opt/cassandra/conf/logback.xml \
  "-Dcassandra.storagedir=$S" "-Dcassandra.logdir=$S/logs" "-Dcassandra.triggers_dir=$S/triggers" \
  -Dcassandra-foreground=yes -Djava.net.preferIPv4Stack=true \
  -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100 \
  -Dcassandra.unsafesystem=true -Dcassandra.superuser_setup_delay_ms=0 \
  -cp '/opt/cassandra/lib/*' org.apache.cassandra.service.CassandraDaemon
