/*
 * nbpipe's own minimal REPL driver for a local Apache Livy 0.7.1 server.
 *
 * Apache publishes livy-server, livy-rsc and livy-api to Maven Central, but not
 * livy-repl (the interactive-session driver that ships only in Livy's binary
 * zip). The Livy server hard-codes the driver class name
 * org.apache.livy.repl.ReplDriver when it launches a session through
 * spark-submit, so this class uses that name. It extends Livy's real
 * RSCDriver (RPC, job queue, SparkContext/SparkSession creation) and adds the
 * REPL messages: ReplJobRequest, GetReplJobResults, CancelReplJobRequest,
 * ReplCompleteRequest and ReplState broadcasts. Statements of kind
 * pyspark/python run in one long-lived Python process (nbpipe_livy_shell.py,
 * packed in this jar) attached to this JVM's SparkContext through py4j.
 * Other statement kinds (spark, sparkr, sql) answer with an error output.
 */
package org.apache.livy.repl;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import io.netty.channel.ChannelHandlerContext;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import py4j.GatewayServer;

import org.apache.livy.rsc.BaseProtocol;
import org.apache.livy.rsc.RSCConf;
import org.apache.livy.rsc.ReplJobResults;
import org.apache.livy.rsc.driver.RSCDriver;
import org.apache.livy.rsc.driver.SparkEntries;
import org.apache.livy.rsc.driver.Statement;
import org.apache.livy.rsc.driver.StatementState;
import org.apache.livy.rsc.rpc.Rpc;

public class ReplDriver extends RSCDriver {
  private static final Logger LOG = LoggerFactory.getLogger(ReplDriver.class);

  /** What the Python shell reaches through py4j's entry_point. */
  public static final class Entry {
    private final SparkEntries entries;
    Entry(SparkEntries entries) { this.entries = entries; }
    public JavaSparkContext sc() { return entries.sc(); }
    public SparkSession sparkSession() throws Exception { return entries.sparkSession(); }
  }

  private final ConcurrentSkipListMap<Integer, Statement> statements = new ConcurrentSkipListMap<>();
  private final AtomicInteger nextId = new AtomicInteger(0);
  private final AtomicInteger pending = new AtomicInteger(0);
  private final ExecutorService runner = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "nbpipe-repl-runner");
    t.setDaemon(true);
    return t;
  });
  private volatile String replState = "starting";
  private volatile SparkEntries entries;
  private GatewayServer gateway;
  private Process python;
  private BufferedWriter toPython;
  private BufferedReader fromPython;

  public ReplDriver(SparkConf conf, RSCConf livyConf) throws Exception {
    super(conf, livyConf);
  }

  @Override
  protected SparkEntries initializeSparkEntries() throws Exception {
    try {
      entries = new SparkEntries(conf);
      entries.sc();
      entries.sparkSession();
      startPython();
      setState("idle");
      return entries;
    } catch (Exception e) {
      LOG.error("REPL initialization failed", e);
      setState("error");
      throw e;
    }
  }

  @Override
  protected void onClientAuthenticated(Rpc client) {
    super.onClientAuthenticated(client);
    client.call(new BaseProtocol.ReplState(replState));
  }

  @Override
  protected void shutdownContext() {
    runner.shutdownNow();
    if (python != null) {
      python.destroy();
    }
    if (gateway != null) {
      gateway.shutdown();
    }
    super.shutdownContext();
  }

  private void setState(String state) {
    replState = state;
    broadcast(new BaseProtocol.ReplState(state));
  }

  // ---- REPL RPC handlers (found by name through RpcDispatcher) ----

  public Integer handle(ChannelHandlerContext ctx, BaseProtocol.ReplJobRequest msg) {
    final int id = nextId.getAndIncrement();
    final Statement st = new Statement(id, msg.code, StatementState.Waiting, null);
    statements.put(id, st);
    pending.incrementAndGet();
    if (!"error".equals(replState)) {
      setState("busy");
    }
    runner.submit(() -> execute(st, msg.codeType));
    return id;
  }

  public ReplJobResults handle(ChannelHandlerContext ctx, BaseProtocol.GetReplJobResults msg) {
    Collection<Statement> picked;
    if (msg.allResults || msg.from == null || msg.size == null) {
      picked = statements.values();
    } else {
      picked = statements.subMap(msg.from, true, msg.from + msg.size, false).values();
    }
    return new ReplJobResults(picked.toArray(new Statement[0]));
  }

  public void handle(ChannelHandlerContext ctx, BaseProtocol.CancelReplJobRequest msg) {
    Statement st = statements.get(msg.id);
    if (st == null) {
      return;
    }
    if (st.compareAndTransit(StatementState.Waiting, StatementState.Cancelled)) {
      st.completed = System.currentTimeMillis();
      return;
    }
    if (st.compareAndTransit(StatementState.Running, StatementState.Cancelling)) {
      try {
        entries.sc().cancelAllJobs();
        if (python != null) {
          new ProcessBuilder("kill", "-INT", Long.toString(python.pid())).start().waitFor();
        }
      } catch (Exception e) {
        LOG.warn("cancel of statement " + msg.id + " failed", e);
      }
    }
  }

  public String[] handle(ChannelHandlerContext ctx, BaseProtocol.ReplCompleteRequest msg) {
    return new String[0];
  }

  // ---- execution ----

  private void execute(Statement st, String kind) {
    try {
      if (!st.compareAndTransit(StatementState.Waiting, StatementState.Running)) {
        return;
      }
      st.started = System.currentTimeMillis();
      String output;
      if (kind == null || kind.equals("pyspark") || kind.equals("python")) {
        output = runPython(st.id, st.code);
      } else {
        output = errorJson(st.id, "NotImplementedError",
            "this Livy REPL driver (nbpipe) runs only pyspark statements, not kind '" + kind + "'");
      }
      st.output = output;
      st.updateProgress(1.0);
      st.completed = System.currentTimeMillis();
      if (!st.compareAndTransit(StatementState.Running, StatementState.Available)) {
        st.compareAndTransit(StatementState.Cancelling, StatementState.Cancelled);
      }
    } catch (Throwable t) {
      LOG.error("statement " + st.id + " failed", t);
      st.output = errorJson(st.id, t.getClass().getSimpleName(), String.valueOf(t.getMessage()));
      st.completed = System.currentTimeMillis();
      if (!st.compareAndTransit(StatementState.Running, StatementState.Available)) {
        st.compareAndTransit(StatementState.Cancelling, StatementState.Cancelled);
      }
    } finally {
      if (pending.decrementAndGet() == 0 && !"error".equals(replState)) {
        setState("idle");
      }
    }
  }

  private synchronized String runPython(int id, String code) throws Exception {
    String req = "{\"id\":" + id + ",\"code\":\"" + jsonEscape(code) + "\"}";
    toPython.write(req);
    toPython.write('\n');
    toPython.flush();
    String line = fromPython.readLine();
    if (line == null) {
      setState("error");
      return errorJson(id, "InterpreterError", "the Python interpreter process exited");
    }
    return line;
  }

  private void startPython() throws Exception {
    byte[] raw = new byte[24];
    new SecureRandom().nextBytes(raw);
    String secret = Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
    gateway = new GatewayServer.GatewayServerBuilder()
        .entryPoint(new Entry(entries))
        .javaPort(0)
        .javaAddress(InetAddress.getLoopbackAddress())
        .authToken(secret)
        .build();
    gateway.start();

    File shell = File.createTempFile("nbpipe_livy_shell", ".py");
    shell.deleteOnExit();
    try (InputStream in = ReplDriver.class.getResourceAsStream("/nbpipe_livy_shell.py")) {
      Files.copy(in, shell.toPath(), StandardCopyOption.REPLACE_EXISTING);
    }

    String exe = firstSet(conf.get("spark.pyspark.driver.python", null),
        conf.get("spark.pyspark.python", null), System.getenv("PYSPARK_DRIVER_PYTHON"),
        System.getenv("PYSPARK_PYTHON"), "python3");
    ProcessBuilder pb = new ProcessBuilder(exe, "-u", shell.getAbsolutePath());
    Map<String, String> env = pb.environment();
    List<String> path = new ArrayList<>();
    for (String f : conf.get("spark.submit.pyFiles", "").split(",")) {
      String p = f.trim().replaceFirst("^file:", "");
      if (!p.isEmpty() && new File(p).exists()) {
        path.add(p);
      }
    }
    if (env.get("PYTHONPATH") != null) {
      path.add(env.get("PYTHONPATH"));
    }
    env.put("PYTHONPATH", String.join(File.pathSeparator, path));
    env.put("NBPIPE_LIVY_GATEWAY_PORT", Integer.toString(gateway.getListeningPort()));
    env.put("NBPIPE_LIVY_GATEWAY_SECRET", secret);
    pb.redirectError(ProcessBuilder.Redirect.INHERIT);
    python = pb.start();
    toPython = new BufferedWriter(new OutputStreamWriter(python.getOutputStream(), StandardCharsets.UTF_8));
    fromPython = new BufferedReader(new InputStreamReader(python.getInputStream(), StandardCharsets.UTF_8));
    String hello = fromPython.readLine();
    if (hello == null || !hello.contains("\"ready\"")) {
      throw new IllegalStateException("Python shell failed to start: " + hello);
    }
    LOG.info("nbpipe Python shell ready ({})", exe);
  }

  private static String firstSet(String... values) {
    for (String v : values) {
      if (v != null && !v.isEmpty()) {
        return v;
      }
    }
    return null;
  }

  private static String errorJson(int id, String ename, String evalue) {
    return "{\"status\":\"error\",\"execution_count\":" + id + ",\"ename\":\"" + jsonEscape(ename)
        + "\",\"evalue\":\"" + jsonEscape(evalue) + "\",\"traceback\":[]}";
  }

  static String jsonEscape(String s) {
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
    return b.toString();
  }
}
