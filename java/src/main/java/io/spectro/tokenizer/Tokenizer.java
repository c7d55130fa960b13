package io.spectro.tokenizer;

import io.spectro.SpectroException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.UnaryOperator;

/**
 * A byte-level BPE tokenizer (GPT-2 / GPT-NeoX) loaded from a Hugging Face {@code tokenizer.json}.
 * Encoding follows the Hugging Face pipeline step by step: added tokens that are not normalized are
 * split off the raw text, the rest is normalized (NFC for GPT-NeoX), normalized added tokens are split
 * off, the ByteLevel pre-tokenizer splits with the GPT-2 regex and maps UTF-8 bytes to chars, and each
 * piece is merged by BPE rank. No template tokens are added (the GPT-NeoX post-processor adds none).
 * Instances are immutable and safe to share between threads.
 */
public final class Tokenizer {
    final Map<String, Integer> vocab;            // model vocabulary, in id order
    final List<String[]> merges;                 // merge pairs, in rank order
    final List<AddedTokens.Token> added;         // added tokens as declared
    final String normalizerName;                 // e.g. "NFC", or null
    final boolean addPrefixSpace;
    final boolean trimOffsets;
    final boolean useRegex;

    private final Bpe bpe;
    private final UnaryOperator<String> normalizer;
    private final AddedTokens rawSplit;          // non-normalized added tokens, matched on raw text
    private final AddedTokens normSplit;         // normalized added tokens, matched on normalized text
    private final String[] idToToken;
    private final boolean[] isAdded;
    private final Map<String, Integer> addedByContent = new HashMap<>();

    Tokenizer(Map<String, Integer> vocab, List<String[]> merges, List<AddedTokens.Token> added,
              UnaryOperator<String> normalizer, String normalizerName, boolean addPrefixSpace,
              boolean trimOffsets, boolean useRegex, int unkId, boolean ignoreMerges, String source) {
        this.vocab = vocab;
        this.merges = merges;
        this.added = List.copyOf(added);
        this.normalizer = normalizer;
        this.normalizerName = normalizerName;
        this.addPrefixSpace = addPrefixSpace;
        this.trimOffsets = trimOffsets;
        this.useRegex = useRegex;

        HashMap<Long, Long> ranked = new HashMap<>(merges.size() * 2);
        for (int r = 0; r < merges.size(); r++) {
            String[] m = merges.get(r);
            Integer a = vocab.get(m[0]), b = vocab.get(m[1]), ab = vocab.get(m[0] + m[1]);
            if (a == null || b == null || ab == null)
                throw new SpectroException(source + ": merge " + r + " (\"" + m[0] + "\" \"" + m[1]
                        + "\") uses a token that is not in the vocabulary");
            ranked.putIfAbsent(Bpe.pair(a, b), ((long) r << 32) | ab);
        }
        this.bpe = new Bpe(vocab, ranked, unkId, ignoreMerges);

        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (AddedTokens.Token t : added) size = Math.max(size, t.id() + 1);
        idToToken = new String[size];
        isAdded = new boolean[size];
        for (var e : vocab.entrySet()) idToToken[e.getValue()] = e.getKey();
        List<Map.Entry<String, AddedTokens.Token>> raw = new ArrayList<>(), norm = new ArrayList<>();
        for (AddedTokens.Token t : added) {
            idToToken[t.id()] = t.content();
            isAdded[t.id()] = true;
            addedByContent.putIfAbsent(t.content(), t.id());
            if (t.normalized()) norm.add(Map.entry(normalizer.apply(t.content()), t));
            else raw.add(Map.entry(t.content(), t));
        }
        rawSplit = new AddedTokens(raw);
        normSplit = new AddedTokens(norm);
    }

    /** Loads a Hugging Face tokenizer.json; any problem -> SpectroException naming the file. */
    public static Tokenizer load(Path file) {
        return TokenizerJson.read(file);
    }

    /** Writes this tokenizer as a Hugging Face tokenizer.json. */
    public void save(Path file) {
        TokenizerJson.write(this, file);
    }

    /** Token ids of {@code text}; the empty string gives an empty array. */
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        for (AddedTokens.Piece p : rawSplit.split(text)) {
            if (p.id() >= 0) {
                out.add(p.id());
                continue;
            }
            if (p.text().isEmpty()) continue;
            String normalized = normalizer.apply(p.text());
            for (AddedTokens.Piece q : normSplit.split(normalized)) {
                if (q.id() >= 0) out.add(q.id());
                else if (!q.text().isEmpty()) encodePlain(q.text(), out);
            }
        }
        return out.toArray();
    }

    private void encodePlain(String s, IntList out) {
        if (addPrefixSpace && !s.startsWith(" ")) s = " " + s;
        if (useRegex) {
            for (String word : ByteLevel.split(s)) out.addAll(bpe.encodeWord(ByteLevel.encodeBytes(word)));
        } else {
            out.addAll(bpe.encodeWord(ByteLevel.encodeBytes(s)));
        }
    }

    /**
     * Text of a token sequence, as Hugging Face decodes it with special tokens kept: token strings
     * through the ByteLevel decoder, then UTF-8 with invalid sequences replaced by U+FFFD. Ids that
     * name no token are skipped, as Hugging Face does.
     */
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            if (id < 0 || id >= idToToken.length || idToToken[id] == null) continue;
            ByteLevel.decodeToken(idToToken[id], bytes);
        }
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
    }

    /**
     * Display text of one token: its bytes decoded leniently (a partial UTF-8 character shows as
     * U+FFFD). An id outside the vocabulary (e.g. the padding rows of a model's 50304-row embedding)
     * shows as {@code <|id:N|>}.
     */
    public String token(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) return "<|id:" + id + "|>";
        return decode(new int[]{id});
    }

    /** The bytes a token decodes to, or null when the id names no token. */
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) return null;
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        ByteLevel.decodeToken(idToToken[id], b);
        return b.toByteArray();
    }

    /**
     * Display text of each token of a sequence, decoded in context ({@link TokenDisplay}): a character
     * split over two tokens shows whole in both, undecodable bytes as {@code \xNN}, ids that name no
     * token as {@code <|id:N|>}.
     */
    public String[] displayTokens(int[] ids) {
        byte[][] b = new byte[ids.length][];
        for (int i = 0; i < ids.length; i++) b[i] = tokenBytes(ids[i]);
        return TokenDisplay.display(b, i -> "<|id:" + ids[i] + "|>");
    }

    /** The raw token string of an id (e.g. "Ġthe"), or null when the id names no token. */
    public String tokenString(int id) {
        return id < 0 || id >= idToToken.length ? null : idToToken[id];
    }

    /** Number of ids (one more than the largest id of the vocabulary or the added tokens). */
    public int vocabSize() {
        return idToToken.length;
    }

    /** Id of a raw token string (a vocabulary entry such as "Ġthe" or an added token's content). */
    public OptionalInt id(String tokenString) {
        Integer a = addedByContent.get(tokenString);
        if (a != null) return OptionalInt.of(a);
        Integer v = vocab.get(tokenString);
        return v == null ? OptionalInt.empty() : OptionalInt.of(v);
    }

    /** Whether the id is an added token (special or not). */
    public boolean isAddedToken(int id) {
        return id >= 0 && id < isAdded.length && isAdded[id];
    }

    static UnaryOperator<String> normalizerFor(String type) {
        return switch (type) {
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            default -> null;
        };
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a;
        private int n;

        IntList(int capacity) {
            a = new int[Math.max(1, capacity)];
        }

        void add(int v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, a.length * 2);
            a[n++] = v;
        }

        void addAll(int[] v) {
            if (n + v.length > a.length) a = java.util.Arrays.copyOf(a, Math.max(a.length * 2, n + v.length));
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }
}
