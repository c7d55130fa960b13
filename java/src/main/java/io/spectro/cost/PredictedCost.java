package io.spectro.cost;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * What one predicted χ vector costs ({@code spectro upsample apply}), counted with {@link CostModel}'s
 * convention so it can stand next to a ground-truth vector at the same settings: the forwards that compute
 * the token's features (shared by every token of a batch, so counted per token) plus the regressor and the
 * map back to χ units.
 *
 * <p>Feature groups (docs/upsampling.md, "Features"): {@code loss} 1 forward; {@code act} 1 forward (its
 * extras, norms and an entropy, are elementwise work the convention does not count); {@code resp:K} 2K
 * forwards per component (ℓ(w* ± h·v) along K directions), plus one forward at w* for ℓ(w*) when neither
 * {@code loss} nor {@code act} already runs one. What this assumes, also printed by {@code spectro cost}:
 * every forward starts at the embedding (the upper figure; {@link Estimate#cachedFeatureFlopsPerToken}
 * gives the lower one, each response forward starting at its component's lowest layer from a cache of the
 * unperturbed layers below); the regressor is a dense network of the given widths (ridge: one layer)
 * on the device; reading tokens, writing the vector and fitting the auxiliary model are not counted (the
 * fit's features for the ground-truth tokens are a one-off, {@code featureFlopsPerToken} x ground-truth
 * vectors).
 */
public final class PredictedCost {
    private PredictedCost() {}

    /**
     * @param features         feature spec, e.g. {@code loss,act,resp:4}
     * @param hidden           the regressor's hidden widths; empty = ridge (one linear map)
     * @param outputDim        the regressor's outputs: the whitened dimension
     */
    public record Options(String features, int[] hidden, int outputDim) {
        public Options {
            if (features == null || features.isBlank()) throw new IllegalArgumentException("feature spec missing");
            if (outputDim < 1) throw new IllegalArgumentException("whitened dimension must be >= 1, got " + outputDim);
            for (int h : hidden) if (h < 1) throw new IllegalArgumentException("hidden widths must be >= 1, got " + h);
            hidden = hidden.clone();
        }

        /** "ridge" or "mlp:W1,W2,..." */
        public static int[] parseRegressor(String s) {
            if (s.equals("ridge")) return new int[0];
            if (s.startsWith("mlp:")) {
                try {
                    int[] w = java.util.Arrays.stream(s.substring(4).split(",")).map(String::strip).mapToInt(Integer::parseInt).toArray();
                    if (w.length > 0) return w;
                } catch (NumberFormatException ignored) {
                    // falls through to the message
                }
            }
            throw new IllegalArgumentException("regressor: expected ridge or mlp:W1,W2,... (hidden widths), got " + s);
        }
    }

    /**
     * @param forwards                 model forwards per token (all groups)
     * @param featureFlopsPerToken     those forwards, each from the embedding
     * @param cachedFeatureFlopsPerToken the same with each response forward starting at its component's lowest layer
     * @param featureDim               the regressor's input dimension
     * @param regressorFlops           the regressor and the map back to χ units, per vector
     * @param groups                   per group: name, forwards, feature dimension
     */
    public record Estimate(int forwards, double featureFlopsPerToken, double cachedFeatureFlopsPerToken, int featureDim,
                           double regressorFlops, List<Group> groups, Options options) {
        public double flopsPerVector() { return featureFlopsPerToken + regressorFlops; }

        public double cachedFlopsPerVector() { return cachedFeatureFlopsPerToken + regressorFlops; }
    }

    public record Group(String name, int forwards, int dim) {}

    /** The cost of one predicted vector for a model of shape {@code cfg}, sequences of {@code seq} tokens. */
    public static Estimate estimate(ModelConfig cfg, int seq, String components, Options o) {
        List<Component> comps = Decomposition.resolve(cfg, components);
        double full = CostModel.forwardFlopsPerToken(cfg, seq, 0);
        int L = cfg.nLayers(), H = comps.size();
        List<Group> groups = new ArrayList<>();
        int forwards = 0, dim = 0;
        double flops = 0, cached = 0;
        boolean atWstar = false;
        int respK = -1;
        for (String g : o.features().split(",")) {
            String s = g.strip();
            if (s.equals("loss")) {
                groups.add(new Group("loss", 1, 1));
                atWstar = true;
            } else if (s.equals("act")) {
                groups.add(new Group("act", 1, 1 + L + L * cfg.nHeads() + L));
                atWstar = true;
            } else if (s.startsWith("resp:")) {
                try {
                    respK = Integer.parseInt(s.substring(5));
                } catch (NumberFormatException e) {
                    respK = -1;
                }
                if (respK < 1) throw new IllegalArgumentException("feature group " + s + ": expected resp:K with K >= 1 directions");
                groups.add(new Group("resp:" + respK, 2 * respK * H, respK * H));
            } else throw new IllegalArgumentException("feature group '" + s + "': expected loss, act or resp:K");
        }
        if (groups.stream().map(Group::name).distinct().count() != groups.size())
            throw new IllegalArgumentException("feature spec " + o.features() + " names a group twice");
        for (Group g : groups) {
            forwards += g.forwards();
            dim += g.dim();
            if (g.name().startsWith("resp:")) {
                flops += g.forwards() * full;
                for (Component c : comps) cached += 2.0 * respK * CostModel.forwardFlopsPerToken(cfg, seq, c.lowestLayer());
            } else {
                flops += full;
                cached += full;
            }
        }
        if (respK > 0 && !atWstar) { // the second difference needs ℓ(w*)
            groups.add(new Group("l(w*) for resp", 1, 0));
            forwards++;
            flops += full;
            cached += full;
        }
        double reg = 0;
        int in = dim;
        for (int h : o.hidden()) {
            reg += 2.0 * in * h;
            in = h;
        }
        reg += 2.0 * in * o.outputDim();
        reg += 2.0 * o.outputDim() * H; // whitened prediction back to χ units
        return new Estimate(forwards, flops, cached, dim, reg, List.copyOf(groups), o);
    }
}
