package io.spectro.report;

import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class ExplorerTest {
    static final String HOSTILE = "<script>alert(1)</script>";

    @Test
    void pageEscapesHostileTokens(@TempDir Path dir) throws Exception {
        Path html = Fixtures.run(dir, 900, 4, true, 5);
        String page = Files.readString(html);
        assertFalse(page.contains("alert(1)</script>"), "raw hostile token in the page");
        assertFalse(page.contains("<img src=x"), "raw hostile token in the page");
        assertFalse(page.contains("src=\"http"), "the page must not load anything");
        assertEquals(2, page.split("<script", -1).length - 1, "exactly the data and the code script tags");
        String open = "<script type=\"application/json\" id=\"data\">";
        int a = page.indexOf(open) + open.length();
        String json = page.substring(a, page.indexOf("</script>", a));
        JsonNode data = JsonMapper.shared().readTree(json);
        assertTrue(data.get("index").has(HOSTILE), "the hostile token survives as data: " + data.get("index").propertyNames());
        assertTrue(data.get("clusters").size() >= 3);
    }

    static String chromium() {
        for (String c : new String[]{"chromium", "chromium-browser", "google-chrome"}) {
            for (String p : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
                if (Files.isExecutable(Path.of(p, c))) return Path.of(p, c).toString();
            }
        }
        return null;
    }

    static String runChromium(String exe, Path profile, String... extra) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--virtual-time-budget=5000", "--window-size=1280,800"));
        cmd.addAll(List.of(extra));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "chromium timed out");
        return new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void headlessChromiumOpensACardAndShowsTokensAsText(@TempDir Path dir) throws Exception {
        String exe = chromium();
        Assumptions.assumeTrue(exe != null, "chromium not installed (scripts/install-test-deps installs it)");
        Path html = Fixtures.run(dir.resolve("run"), 900, 4, true, 5);
        Pipeline.ClustersFile cf = Pipeline.readClusters(dir.resolve("run").resolve("clusters"));
        // the cluster holding the hostile token
        String target = null;
        for (Cards.Card c : cf.clusters())
            if (c.tokens().stream().anyMatch(t -> t.t().equals(HOSTILE))) target = c.id();
        assertNotNull(target);
        String url = html.toUri() + "#click=" + target;
        String dom = runChromium(exe, dir.resolve("profile1"), "--dump-dom", url);
        assertTrue(dom.contains("data-ready=\"1\""), "page script did not finish: " + dom.substring(0, Math.min(400, dom.length())));
        assertTrue(dom.contains("data-cluster=\"" + target + "\""), "card not opened");
        assertTrue(dom.contains("<h2>" + target + "</h2>"));
        assertTrue(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "hostile token not shown as text");
        assertFalse(dom.contains("<img"), "hostile token became markup");
        // bidi controls and zero-width characters are shown as escapes, never raw (U+202E would reverse the text after it)
        assertTrue(dom.contains("\\u202Eevil\\u200B\\uFEFF"), "bidi/zero-width characters not escaped");
        int raw = dom.replaceAll("[\u200B\uFEFF]", "\u202E").indexOf('\u202E');
        assertEquals(-1, raw, () -> "raw bidi/zero-width character in the page: "
                + dom.substring(Math.max(0, raw - 200), Math.min(dom.length(), raw + 50)));
        // search lights up clusters
        String dom2 = runChromium(exe, dir.resolve("profile2"), "--dump-dom", html.toUri() + "#search=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E");
        assertTrue(dom2.contains("in 1 cluster(s)") || dom2.contains("cluster(s)"), "search status missing");
        assertTrue(dom2.contains(">" + target + " ("), "search hit button missing");
        Path shot = dir.resolve("shot.png");
        runChromium(exe, dir.resolve("profile3"), "--screenshot=" + shot, url);
        assertTrue(Files.isRegularFile(shot));
        byte[] png = Files.readAllBytes(shot);
        assertTrue(png.length > 5000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G', "not a PNG screenshot");
    }

    @Test
    void headlessChromiumShowsPredictedCountsAndBadges(@TempDir Path dir) throws Exception {
        String exe = chromium();
        Assumptions.assumeTrue(exe != null, "chromium not installed (scripts/install-test-deps installs it)");
        Path run = io.spectro.upsample.PredictedFixture.combined(dir, 600, 12);
        Path html = Report.write(run, true, io.spectro.whiten.Whitening.Options.defaults(), Fixtures.fastKnn(), Fixtures.fastCluster(),
                io.spectro.map.ClusterMap.Options.defaults());
        Pipeline.ClustersFile cf = Pipeline.readClusters(run.resolve("clusters"));
        Cards.Card mixed = cf.clusters().stream().filter(c -> c.predicted() > 0 && c.predicted() < c.size()).findFirst().orElseThrow();
        String dom = runChromium(exe, dir.resolve("profile"), "--dump-dom", html.toUri() + "#click=" + mixed.id() + "&predicted=1");
        assertTrue(dom.contains("data-ready=\"1\""), "page script did not finish");
        assertTrue(dom.contains("data-cluster=\"" + mixed.id() + "\""), "card not opened");
        assertTrue(dom.contains("data-predicted=\"" + mixed.predicted() + "\""), "card's predicted count missing");
        assertTrue(dom.contains(mixed.size() + " vectors (" + mixed.predicted() + " predicted, "), "card text lacks the predicted count");
        long predictedExamples = mixed.examples().stream().filter(Cards.Example::predicted).count();
        assertEquals(predictedExamples, dom.split("class=\"badge pred\"", -1).length - 1L, "one badge per predicted example");
        assertEquals(mixed.examples().size() - predictedExamples, dom.split("class=\"badge gt\"", -1).length - 1L);
        assertTrue(dom.contains("data-shade=\"predicted\""), "#predicted=1 did not switch the shading");
        long total = cf.clusters().stream().mapToLong(Cards.Card::predicted).sum();
        assertTrue(dom.contains(cf.rows() + " vectors (" + total + " predicted)"), "title lacks the predicted total");
    }

    @Test
    void invisibleAndReorderingCharactersAreShownAsEscapes() {
        assertEquals("a\\u202Eb\\u200B\\uFEFFc\\n\\x01\\u0085", Html.showToken("a\u202Eb\u200B\uFEFFc\n\u0001\u0085"));
        assertEquals(" caf\u00e9 \u4e2d", Html.showToken(" caf\u00e9 \u4e2d")); // visible text stays as it is
    }

    @Test
    void comparePageListsClustersOfEachToken(@TempDir Path dir) {
        Fixtures.run(dir.resolve("a"), 600, 3, true, 1);
        Fixtures.run(dir.resolve("b"), 700, 4, false, 2);
        Pipeline.ClustersFile a = Pipeline.readClusters(dir.resolve("a").resolve("clusters"));
        Pipeline.ClustersFile b = Pipeline.readClusters(dir.resolve("b").resolve("clusters"));
        String page = Compare.render("a", a, "b", b, List.of("man", HOSTILE, "nonexistent"));
        assertFalse(page.contains(HOSTILE));
        assertTrue(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assertEquals(3, page.split("<tr class=\"token\">", -1).length - 1);
        assertTrue(page.contains("in no cluster"));
        String timeHolder = Explorer.holding(a, "man").isEmpty() ? null : a.clusters().get(Explorer.holding(a, "man").get(0)[0]).id();
        assertNotNull(timeHolder);
        assertTrue(page.contains("<td>" + timeHolder + "</td>"));
    }
}
