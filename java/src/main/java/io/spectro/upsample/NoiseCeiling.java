package io.spectro.upsample;

import io.spectro.io.Npy;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How much of a run's χ is signal, per column: R² of any predictor against the noisy ground truth cannot
 * exceed it. Two estimates from what {@code spectro chi} writes: the split-half reliability in
 * diagnostics.json's health entries, and 1 − mean(se²)/var(χ) from chi_se.npy.
 */
final class NoiseCeiling {
    private NoiseCeiling() {}

    /** Split-half reliability per column (null when diagnostics.json has no health entries). */
    static Map<String, Double> reliability(GroundTruth gt) {
        Path f = gt.run().resolve("diagnostics.json");
        if (!Files.isRegularFile(f)) return null;
        JsonNode d;
        try {
            d = JsonMapper.shared().readTree(f.toFile());
        } catch (RuntimeException e) {
            return null; // a report without the ceiling; the stages that own the file refuse it
        }
        if (d == null || !d.has("health")) return null;
        Map<String, Double> byName = new LinkedHashMap<>();
        for (JsonNode h : d.get("health")) {
            JsonNode r = h.get("reliability");
            byName.put(h.get("component").asString(), r == null || !r.isNumber() ? Double.NaN : r.asDouble());
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (String c : gt.columnNames()) out.put(c, byName.getOrDefault(c, Double.NaN));
        return out;
    }

    /** 1 − mean(se²)/var(χ) per column (null when chi_se.npy is absent or has another shape). */
    static Map<String, Double> seReliability(GroundTruth gt) {
        Path f = gt.run().resolve("chi_se.npy");
        if (!Files.isRegularFile(f)) return null;
        Npy.Floats se = Npy.readFloats(f);
        int H = gt.components().size(), n = gt.rows(), h = gt.columns().length;
        if (se.shape().length != 2 || se.dim(0) != n || se.dim(1) != H) return null;
        float[] chi = gt.chi().data();
        Map<String, Double> out = new LinkedHashMap<>();
        for (int j = 0; j < h; j++) {
            int c = gt.columns()[j];
            double m = 0, v = 0, s2 = 0;
            int cnt = 0;
            for (int r = 0; r < n; r++) m += chi[r * h + j];
            m /= n;
            for (int r = 0; r < n; r++) {
                double d = chi[r * h + j] - m, s = se.data()[r * H + c];
                v += d * d;
                if (Double.isFinite(s)) {
                    s2 += s * s;
                    cnt++;
                }
            }
            v /= n;
            out.put(gt.columnNames().get(j), cnt == 0 || v <= 0 ? Double.NaN : 1 - (s2 / cnt) / v);
        }
        return out;
    }
}
