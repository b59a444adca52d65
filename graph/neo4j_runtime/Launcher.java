// Boots the real Neo4j Community engine embedded, with the Bolt connector on 127.0.0.1.
// Usage: java -cp 'lib/*' Launcher.java HOME PORT PAGECACHE_MB [TX_LOG_RETENTION]
//        (password in TRACEGRAPH_NEO4J_PASSWORD; retention as db.tx_log.rotation.retention_policy, e.g. "512M size")
// Stops cleanly on SIGTERM/SIGINT so the store is never left dirty.
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

public class Launcher {
    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]);
        int port = Integer.parseInt(args[1]);
        long pageCacheBytes = Long.parseLong(args[2]) * 1024 * 1024;
        String password = System.getenv("TRACEGRAPH_NEO4J_PASSWORD");
        // Transaction logs kept after a checkpoint: Neo4j's default keeps 2 days of them (7 GB after a
        // 100,000-change ingest); one machine with no cluster or online backup needs only a bound.
        String retention = args.length > 3 ? args[3] : "512M size";
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            // The default waits 5 s for idle Bolt threads on every stop; nothing is pending by then.
            .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofMillis(200))
            .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofMillis(200))
            .setConfig(GraphDatabaseSettings.auth_enabled, true)
            .setConfig(GraphDatabaseSettings.pagecache_memory, pageCacheBytes)
            // The watcher only warns when a store file is deleted under the running database; this store
            // is tracegraph's own. At 100,000 changes its threads cost 7.8 s of CPU during the ingest.
            .setConfig(GraphDatabaseSettings.filewatcher_enabled, false)
            .setConfig(GraphDatabaseSettings.keep_logical_logs, retention)
            .build();
        try {
            dbms.database("system").executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $p CHANGE NOT REQUIRED", Map.of("p", password));
        } catch (RuntimeException e) {
            // On a restart the stored password is already this one; Neo4j refuses to "change" it.
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                dbms.shutdown();
                throw e;
            }
        }
        Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown, "tracegraph-shutdown"));
        System.out.println("tracegraph-neo4j ready on bolt://127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join();
    }
}
