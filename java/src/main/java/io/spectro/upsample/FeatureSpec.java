package io.spectro.upsample;

import io.spectro.SpectroException;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which per-token features the auxiliary model sees (docs/upsampling.md): a comma-separated list of
 * groups, each token's feature row the concatenation in the order given.
 * <ul>
 *   <li>{@code loss}: the token's loss at w* (1 column);</li>
 *   <li>{@code act}: the native activation features of one forward ({@code sp_forward_features}: entropy of
 *       the prediction, residual-stream norm per layer, attention-output norm per head, MLP-output norm per
 *       layer, attention entropy per head; 1 + 2L + 2L·heads columns);</li>
 *   <li>{@code resp:K}: for every component, K directions v (seeded Gaussian, each parameter block's part
 *       scaled to that block's weight norm) and the loss at w* ± h·v: the second difference
 *       (ℓ+ + ℓ− − 2ℓ)/h² and the first difference (ℓ+ − ℓ−)/(2h) per direction (2·K columns per component,
 *       2·K forwards per batch).</li>
 * </ul>
 *
 * @param groups the groups in order (no group twice)
 * @param h      relative step of the response features (the perturbation's norm is h times the weights')
 * @param seed   seed of the response directions
 */
public record FeatureSpec(List<Group> groups, double h, long seed) {
    public enum Kind { LOSS, ACT, RESP }

    /** One group; {@code k} is the number of directions of {@code resp} (0 otherwise). */
    public record Group(Kind kind, int k) {
        public Group {
            if (kind == null) throw new SpectroException("feature group kind missing");
            if (kind == Kind.RESP && (k < 1 || k > 64)) throw new SpectroException("features: resp:K needs 1 <= K <= 64, got " + k);
            if (kind != Kind.RESP && k != 0) throw new SpectroException("features: only resp takes a count");
        }

        @Override
        public String toString() {
            return kind == Kind.RESP ? "resp:" + k : kind.name().toLowerCase();
        }
    }

    public static final String DEFAULT = "loss,act";
    public static final double DEFAULT_H = 0.02;

    public FeatureSpec {
        if (groups == null || groups.isEmpty()) throw new SpectroException("features: the spec names no group (e.g. " + DEFAULT + ")");
        groups = List.copyOf(groups);
        Set<Kind> seen = new HashSet<>();
        for (Group g : groups) if (!seen.add(g.kind())) throw new SpectroException("features: group " + g.kind().name().toLowerCase() + " appears twice");
        if (!(h > 0 && h < 1)) throw new SpectroException("features: the response step h must be in (0, 1), got " + h);
    }

    /** Parses "loss,act,resp:4" (spaces allowed). */
    public static FeatureSpec parse(String spec, double h, long seed) {
        if (spec == null || spec.isBlank()) throw new SpectroException("features: empty spec; groups are loss, act, resp:K (e.g. " + DEFAULT + ")");
        List<Group> out = new ArrayList<>();
        for (String part : spec.split(",", -1)) {
            String p = part.strip().toLowerCase();
            if (p.equals("loss")) out.add(new Group(Kind.LOSS, 0));
            else if (p.equals("act")) out.add(new Group(Kind.ACT, 0));
            else if (p.startsWith("resp:")) {
                int k;
                try {
                    k = Integer.parseInt(p.substring(5).strip());
                } catch (NumberFormatException e) {
                    throw new SpectroException("features: '" + part.strip() + "': resp:K needs an integer K");
                }
                out.add(new Group(Kind.RESP, k));
            } else throw new SpectroException("features: unknown group '" + part.strip() + "'; groups are loss, act, resp:K (e.g. " + DEFAULT + ")");
        }
        return new FeatureSpec(out, h, seed);
    }

    public boolean has(Kind k) {
        return groups.stream().anyMatch(g -> g.kind() == k);
    }

    /** Directions per component of the resp group (0 without one). */
    public int respK() {
        return groups.stream().filter(g -> g.kind() == Kind.RESP).mapToInt(Group::k).findFirst().orElse(0);
    }

    /** The canonical spec text ("loss,act,resp:4"). */
    public String text() {
        return String.join(",", groups.stream().map(Group::toString).toList());
    }

    /**
     * Column names: {@code actNames} are the native activation columns ({@code Backend.featureNames}, used
     * when the spec has {@code act}), {@code components} the run's; their count is the feature dimension.
     */
    public List<String> names(List<String> actNames, List<String> components) {
        List<String> n = new ArrayList<>();
        for (Group g : groups) {
            switch (g.kind()) {
                case LOSS -> n.add("loss");
                case ACT -> actNames.forEach(a -> n.add("act:" + a));
                case RESP -> {
                    for (String c : components)
                        for (int j = 0; j < g.k(); j++) {
                            n.add("resp:" + c + ":" + j + ":d2");
                            n.add("resp:" + c + ":" + j + ":d1");
                        }
                }
            }
        }
        return n;
    }
}
