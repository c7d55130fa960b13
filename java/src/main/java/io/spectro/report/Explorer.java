package io.spectro.report;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The explorer: one self-contained HTML file (inline CSS, JS and data; no network, opens from disk).
 * A zoomable, pannable canvas map of the clusters coloured by region with region labels, hover
 * summaries, a card panel on click, and a token search that lights up the clusters holding a token.
 * The data is embedded as JSON in a {@code <script type="application/json">} with '<', '>' and '&'
 * written as \\u escapes, and every text is rendered with textContent, so token text cannot inject
 * markup. The URL hash {@code #click=C0003} opens a card and {@code #search=she} runs a search
 * (used by the headless-browser test), {@code #predicted=1} shades clusters by their share of predicted rows.
 * In a run with predicted rows (RUN/predicted.npy) every card says how many of its members are predicted and
 * each example is badged "predicted" or "ground truth".
 */
public final class Explorer {
    /** Tokens per card in the page (the full list stays in clusters.json). */
    public static final int TOP = 20;

    private Explorer() {}

    public static void write(Path html, Pipeline.ClustersFile cf, Pipeline.MapFile mf, String title) {
        Html.writeFile(html, render(cf, mf, title));
    }

    public static String render(Pipeline.ClustersFile cf, Pipeline.MapFile mf, String title) {
        if (mf.points().size() != cf.clusters().size())
            throw new SpectroException("map.json has " + mf.points().size() + " points but clusters.json "
                    + cf.clusters().size() + " clusters; rerun spectro map");
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("title", title);
        data.put("rows", cf.rows());
        data.put("layout", mf.layout());
        List<Map<String, Object>> cl = new ArrayList<>();
        Map<String, List<int[]>> index = new TreeMap<>();
        long predicted = 0;
        for (int i = 0; i < cf.clusters().size(); i++) {
            Cards.Card c = cf.clusters().get(i);
            Pipeline.MapPoint p = mf.points().get(i);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", c.id());
            m.put("size", c.size());
            m.put("x", p.x());
            m.put("y", -p.y());
            m.put("nb", p.neighborhood());
            m.put("rg", p.region());
            m.put("cond", Math.round(c.conductance() * 1e5) / 1e5);
            m.put("top", c.tokens().stream().limit(TOP).map(t -> List.of(t.t(), t.n())).toList());
            m.put("lift", c.lift().stream().map(t -> List.of(t.t(), t.n(), t.lift())).toList());
            m.put("ex", c.examples());
            m.put("prof", c.strongest().stream().map(s -> List.of(s.c(), s.v())).toList());
            m.put("full", c.profile());
            m.put("sub", c.subsets() == null ? List.of() : c.subsets().stream().map(t -> List.of(t.t(), t.n())).toList());
            m.put("pred", c.predicted());
            predicted += c.predicted();
            cl.add(m);
            for (Cards.TokenCount t : c.tokens()) index.computeIfAbsent(t.t(), k -> new ArrayList<>()).add(new int[]{i, t.n()});
        }
        data.put("clusters", cl);
        data.put("predicted", predicted); // clustered rows predicted by an auxiliary model (RUN/predicted.npy)
        data.put("components", cf.components() == null ? List.of() : cf.components());
        List<Map<String, Object>> regions = new ArrayList<>();
        for (Pipeline.Region r : mf.regions()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("label", r.label());
            m.put("x", r.x());
            m.put("y", -r.y());
            m.put("clusters", r.clusters());
            regions.add(m);
        }
        data.put("regions", regions);
        data.put("index", index);
        SubsetPurity sp = SubsetPurity.of(cf);
        if (sp != null) data.put("purity", sp.line());
        return template().replace("@TITLE@", Html.text(title)).replace("@DATA@", Html.embeddedJson(data));
    }

    private static String cached;

    static synchronized String template() {
        if (cached == null) {
            try (InputStream in = Explorer.class.getResourceAsStream("explorer.html")) {
                if (in == null) throw new SpectroException("explorer.html template missing from the jar");
                cached = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new SpectroException("cannot read the explorer template: " + IoErrors.describe(e), e);
            }
        }
        return cached;
    }

    /** Clusters holding a token (display text equal, or equal after trimming and lower-casing). */
    static List<int[]> holding(Pipeline.ClustersFile cf, String token) {
        String want = token.strip().toLowerCase();
        List<int[]> out = new ArrayList<>();
        Map<Integer, Integer> count = new HashMap<>();
        for (int i = 0; i < cf.clusters().size(); i++)
            for (Cards.TokenCount t : cf.clusters().get(i).tokens())
                if (t.t().equals(token) || t.t().strip().toLowerCase().equals(want)) count.merge(i, t.n(), Integer::sum);
        count.forEach((i, n) -> out.add(new int[]{i, n}));
        out.sort((a, b) -> a[1] != b[1] ? Integer.compare(b[1], a[1]) : Integer.compare(a[0], b[0]));
        return out;
    }
}
