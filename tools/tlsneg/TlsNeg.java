// One end of a Java JSSE session for tools/tls_negatives.py (OpenJDK 17).
// usage: java -cp DIR TlsNeg KIND ROLE IP PORT TLSVER SUITE SPEC DUR KEYSTORE.p12
//   KIND: tls (SSLSocket), https (com.sun.net.httpserver.HttpsServer and
//   java.net.http.HttpClient, HTTP/1.1); SUITE '-' or a JSSE suite name; SPEC as in neg.js
//   (w SIZE PAUSE, r SIZE[,SIZE..] BODY PAUSE, o chunk N, o path b|v), plus
//   o write plain|buffered|split: how a message goes out on a tls socket (one write; a
//   4-byte length and the body through a BufferedOutputStream flushed per message; the
//   same through an unbuffered DataOutputStream, two writes).
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.*;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.*;
import java.util.concurrent.CompletableFuture;
import java.util.regex.*;
import javax.net.ssl.*;

public class TlsNeg {
    static List<double[]> W = new ArrayList<>();
    static List<Object[]> R = new ArrayList<>();
    static Map<String, String> O = new HashMap<>();
    static byte[] BLOB = new byte[2100000];

    static void sleep(double s) {
        try { Thread.sleep((long) (s * 1000)); } catch (InterruptedException e) { }
    }

    static byte[] bytes(int n) { return n <= BLOB.length ? Arrays.copyOf(BLOB, n) : new byte[n]; }

    static SSLContext context(String ks) throws Exception {
        SSLContext c = SSLContext.getInstance("TLS");
        KeyManager[] km = null;
        if (ks != null) {
            KeyStore k = KeyStore.getInstance("PKCS12");
            try (InputStream in = new FileInputStream(ks)) { k.load(in, "changeit".toCharArray()); }
            KeyManagerFactory f = KeyManagerFactory.getInstance("SunX509");
            f.init(k, "changeit".toCharArray());
            km = f.getKeyManagers();
        }
        TrustManager[] all = { new X509TrustManager() {
            public void checkClientTrusted(X509Certificate[] c, String a) { }
            public void checkServerTrusted(X509Certificate[] c, String a) { }
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        } };
        c.init(km, all, null);
        return c;
    }

    static void params(SSLParameters p, String ver, String suite) {
        p.setProtocols(new String[] { "TLSv" + ver });
        if (!suite.equals("-")) p.setCipherSuites(new String[] { suite });
    }

    static Thread raw(SSLSocket s) throws IOException {
        InputStream in = s.getInputStream();
        Thread t = new Thread(() -> {
            byte[] b = new byte[65536];
            try { while (in.read(b) >= 0) { } } catch (IOException e) { }
        });
        t.setDaemon(true);
        t.start();
        String mode = O.getOrDefault("write", "plain");
        OutputStream raw = s.getOutputStream();
        DataOutputStream out = new DataOutputStream(
            mode.equals("buffered") ? new BufferedOutputStream(raw, 8192) : raw);
        try {
            for (double[] w : W) {
                int n = (int) w[0];
                if (mode.equals("plain")) {
                    out.write(bytes(n));
                } else {
                    out.writeInt(Math.max(0, n - 4));
                    out.write(bytes(Math.max(0, n - 4)));
                    out.flush();
                }
                sleep(w[1]);
            }
        } catch (IOException e) { }
        return t;
    }

    public static void main(String[] a) throws Exception {
        String kind = a[0], role = a[1], ip = a[2], ver = a[4], suite = a[5];
        int port = Integer.parseInt(a[3]);
        double dur = Double.parseDouble(a[7]);
        for (int i = 0; i < BLOB.length; i++) BLOB[i] = (byte) (i * 7919 + (i >> 8));
        for (String line : Files.readAllLines(Path.of(a[6]))) {
            String[] f = line.trim().split("\\s+");
            if (f[0].equals("w")) W.add(new double[] { Double.parseDouble(f[1]), Double.parseDouble(f[2]) });
            else if (f[0].equals("r")) R.add(new Object[] { f[1].split(","), Integer.parseInt(f[2]), Double.parseDouble(f[3]) });
            else if (f[0].equals("o")) O.put(f[1], f[2]);
        }
        Thread killer = new Thread(() -> { sleep(dur + 8); System.exit(0); });
        killer.setDaemon(true);
        killer.start();
        boolean server = role.equals("server");
        SSLContext ctx = context(server ? a[8] : null);
        if (kind.equals("tls")) {
            if (server) {
                SSLServerSocket ls = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
                ls.setReuseAddress(true);
                ls.bind(new InetSocketAddress(ip, port));
                SSLParameters p = ls.getSSLParameters();
                params(p, ver, suite);
                ls.setSSLParameters(p);
                SSLSocket s = (SSLSocket) ls.accept();
                raw(s).join();  // until the client closes
            } else {
                SSLSocket s = null;
                for (int i = 0; i < 50 && s == null; i++) {
                    try { s = (SSLSocket) ctx.getSocketFactory().createSocket(ip, port); }
                    catch (IOException e) { sleep(0.2); }
                }
                if (s == null) System.exit(0);
                SSLParameters p = s.getSSLParameters();
                params(p, ver, suite);
                s.setSSLParameters(p);
                s.startHandshake();
                raw(s);
                sleep(2);
                s.close();
            }
            System.exit(0);
        }
        if (server) {
            HttpsServer hs = HttpsServer.create(new InetSocketAddress(ip, port), 16);
            hs.setHttpsConfigurator(new HttpsConfigurator(ctx) {
                public void configure(com.sun.net.httpserver.HttpsParameters hp) {
                    SSLParameters p = ctx.getDefaultSSLParameters();
                    params(p, ver, suite);
                    hp.setSSLParameters(p);
                }
            });
            Pattern path = Pattern.compile("^/(b|v)/?(\\d*)"), rng = Pattern.compile("bytes=(\\d+)-(\\d+)");
            int chunk = Integer.parseInt(O.getOrDefault("chunk", "0"));
            hs.createContext("/", ex -> {
                ex.getRequestBody().readAllBytes();
                Matcher m = path.matcher(ex.getRequestURI().getPath());
                m.find();
                int n, code = 200;
                if (m.group(1).equals("v")) {
                    Matcher r = rng.matcher(ex.getRequestHeaders().getFirst("Range"));
                    r.find();
                    long x = Long.parseLong(r.group(1)), y = Long.parseLong(r.group(2));
                    n = (int) (y - x + 1);
                    code = 206;
                    ex.getResponseHeaders().set("Content-Range", "bytes " + x + "-" + y + "/400000000");
                } else {
                    n = Integer.parseInt(m.group(2));
                }
                ex.sendResponseHeaders(code, n);
                try (OutputStream o = ex.getResponseBody()) {
                    if (chunk == 0) o.write(bytes(n));
                    else for (int left = n; left > 0; left -= chunk) { o.write(bytes(Math.min(chunk, left))); o.flush(); }
                }
            });
            hs.start();
            return;
        }
        System.setProperty("jdk.internal.httpclient.disableHostnameVerification", "true");
        SSLParameters sp = ctx.getDefaultSSLParameters();
        params(sp, ver, suite);
        HttpClient cl = HttpClient.newBuilder().sslContext(ctx).sslParameters(sp)
            .version(HttpClient.Version.HTTP_1_1).build();
        long off = 0;
        for (Object[] r : R) {
            List<CompletableFuture<HttpResponse<byte[]>>> fs = new ArrayList<>();
            for (String v : (String[]) r[0]) {
                int n = Integer.parseInt(v), body = (Integer) r[1];
                HttpRequest.Builder b;
                if ("v".equals(O.get("path"))) {
                    b = HttpRequest.newBuilder(URI.create("https://" + ip + ":" + port + "/v/"))
                        .header("Range", "bytes=" + off + "-" + (off + n - 1));
                    off += n;
                } else {
                    b = HttpRequest.newBuilder(URI.create("https://" + ip + ":" + port + "/b/" + n));
                }
                b = body > 0 ? b.POST(HttpRequest.BodyPublishers.ofByteArray(bytes(body))) : b.GET();
                fs.add(cl.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray()));
            }
            for (CompletableFuture<HttpResponse<byte[]>> f : fs) {
                try { f.join(); } catch (Exception e) { }
            }
            sleep((Double) r[2]);
        }
        System.exit(0);
    }
}
