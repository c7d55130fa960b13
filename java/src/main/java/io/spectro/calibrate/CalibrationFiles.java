package io.spectro.calibrate;

import io.spectro.SpectroException;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * What {@code spectro calibrate} writes into its directory: {@code calibration.json} (format
 * {@code spectro-calibration/1}: the model's SHA-256, the chain settings, every row and the recommendation),
 * {@code calibration.md} (the table and the reasons) and {@code llc_vs_lr_<component>.png} (λ̂ against ε,
 * one curve per nβ and γ, the recommended ε marked). Everything goes to a temporary sibling directory
 * first, renamed into place at the end, so a failure leaves nothing that looks valid.
 */
public final class CalibrationFiles {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String FORMAT = "spectro-calibration/1";

    private CalibrationFiles() {}

    public static void write(Path out, String modelSha, String model, CalibrationRun.Base base, Calibration.Grid grid,
                             List<Calibration.Row> rows, Calibration.Recommendation rec, double seconds) {
        Path tmp = out.toAbsolutePath().resolveSibling(out.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(tmp);
            ObjectNode root = JSON.createObjectNode();
            root.put("format", FORMAT);
            root.put("model", model);
            root.put("modelSha256", modelSha);
            root.set("base", JSON.valueToTree(base));
            root.set("grid", JSON.valueToTree(grid));
            root.put("seconds", seconds);
            root.set("rows", JSON.valueToTree(rows));
            ObjectNode r = JSON.createObjectNode();
            r.put("lr", rec.setting().lr());
            r.put("nbeta", rec.setting().nbeta());
            r.put("gamma", rec.setting().gamma());
            r.put("sampler", base.rmsprop() ? "rmsprop" : "sgld");
            r.set("reasons", JSON.valueToTree(rec.reasons()));
            root.set("recommended", r);
            Files.writeString(tmp.resolve("calibration.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
            Files.writeString(tmp.resolve("calibration.md"), "# Calibration of " + model + "\n\n" + Calibration.markdown(rows, rec));
            for (String comp : rows.stream().map(Calibration.Row::component).distinct().toList()) plot(tmp, comp, rows, rec);
            if (Files.exists(out)) {
                try (var old = Files.list(out)) {
                    for (Path p : old.toList()) Files.deleteIfExists(p);
                }
                Files.delete(out);
            }
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write the calibration (" + e.getMessage() + ")", e);
        }
    }

    private static void plot(Path dir, String comp, List<Calibration.Row> rows, Calibration.Recommendation rec) throws IOException {
        XYSeriesCollection ds = new XYSeriesCollection();
        rows.stream().filter(r -> r.component().equals(comp) && r.setting().nbeta() > 0)
                .map(r -> List.of(r.setting().nbeta(), r.setting().gamma())).distinct().forEach(key -> {
                    XYSeries s = new XYSeries(String.format(Locale.ROOT, "nβ %.3g, γ %.3g", key.get(0), key.get(1)));
                    rows.stream().filter(r -> r.component().equals(comp) && r.setting().nbeta() == key.get(0) && r.setting().gamma() == key.get(1))
                            .sorted(Comparator.comparingDouble(r -> r.setting().lr()))
                            .forEach(r -> { if (Double.isFinite(r.llcMean())) s.add(r.setting().lr(), r.llcMean()); });
                    ds.addSeries(s);
                });
        LogAxis x = new LogAxis("step size ε");
        XYPlot plot = new XYPlot(ds, x, new NumberAxis("λ̂ (mean over chains)"), new XYLineAndShapeRenderer(true, true));
        ValueMarker m = new ValueMarker(rec.setting().lr());
        m.setLabel("recommended");
        plot.addDomainMarker(m);
        JFreeChart chart = new JFreeChart("λ̂ against ε: " + comp, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        ChartUtils.saveChartAsPNG(dir.resolve("llc_vs_lr_" + comp + ".png").toFile(), chart, 640, 400);
    }

    /** The recommended setting of a calibration.json: {lr, nbeta, gamma, rmsprop (1/0)}, and its model hash. */
    public record Recommended(float lr, float nbeta, float gamma, boolean rmsprop, String modelSha256) {
        /** {@code base} with this setting's ε, nβ, γ and sampler (chains, draws and the rest unchanged). */
        public io.spectro.sampling.SamplerOptions applyTo(io.spectro.sampling.SamplerOptions base) {
            return base.withLr(lr).withNbeta(nbeta).withGamma(gamma).withRmsprop(rmsprop);
        }
    }

    public static Recommended read(Path file) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": no such calibration file");
        try (java.io.InputStream in = Files.newInputStream(file)) {
            return read(file.toString(), in);
        } catch (java.io.IOException e) {
            throw new SpectroException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    /** As {@link #read(Path)} from a stream (e.g. a resource in the jar); {@code file} names it in errors. */
    public static Recommended read(String file, java.io.InputStream in) {
        try {
            JsonNode n = JSON.readTree(in);
            if (!FORMAT.equals(n.path("format").asString("")))
                throw new SpectroException(file + ": not a " + FORMAT + " file (written by spectro calibrate)");
            JsonNode r = n.path("recommended");
            float lr = (float) r.path("lr").asDouble(Double.NaN), nb = (float) r.path("nbeta").asDouble(Double.NaN),
                    g = (float) r.path("gamma").asDouble(Double.NaN);
            String sampler = r.path("sampler").asString("");
            String sha = n.path("modelSha256").asString("");
            if (!(lr > 0) || !(nb >= 0) || !(g >= 0) || !(sampler.equals("sgld") || sampler.equals("rmsprop")) || sha.length() != 64)
                throw new SpectroException(file + ": the recommended setting or the model hash is missing or invalid");
            return new Recommended(lr, nb, g, sampler.equals("rmsprop"), sha);
        } catch (SpectroException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new SpectroException(file + ": cannot parse (" + e.getMessage() + ")", e);
        }
    }
}
