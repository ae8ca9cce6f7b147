package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MiniJson;

class TableAndRendererTest {

    @Test
    void csvQuotesWhatNeedsItAndJsonParses(@TempDir Path dir) throws Exception {
        Column<String> name = Column.text("name");
        Column<Long> n = Column.count("n");
        Column<Double> x = Column.real("x");
        Table t = new Table(Columns.of(name, n, x));
        t.row().set(name, "a,b").set(n, 3L).set(x, 1.5).add();
        t.row().set(x, 2.0).set(name, "say \"hi\"").set(n, 4L).add(); // any order: cells go by column
        t.writeCsv(dir.resolve("t.csv"));
        assertEquals(List.of("name,n,x", "\"a,b\",3,1.5000", "\"say \"\"hi\"\"\",4,2"),
                Files.readAllLines(dir.resolve("t.csv")));
        JsonOut j = new JsonOut();
        t.writeJson(j);
        Object doc = MiniJson.parse(j.toString());
        assertEquals("a,b", MiniJson.at(doc, 0, "name"));
        assertEquals(2.0, MiniJson.at(doc, 1, "x"));
    }

    @Test
    void aRowSetsEveryColumnOnceWithItsType() {
        Column<Integer> a = Column.integer("a");
        Column<String> b = Column.text("b");
        Table t = new Table(Columns.of(a, b));
        IllegalArgumentException unset = assertThrows(IllegalArgumentException.class, () -> t.row().set(a, 1).add());
        assertTrue(unset.getMessage().contains("[b] unset"), unset.getMessage());
        assertThrows(IllegalArgumentException.class, () -> t.row().set(a, 1).set(a, 2));
        assertThrows(IllegalArgumentException.class, () -> t.row().set(Column.integer("c"), 1), "not a column of t");
        assertThrows(IllegalArgumentException.class, () -> t.row().set(Column.real("a"), 1.0), "a is an int column");
        assertTrue(t.rows().isEmpty(), "no refused row was added");
    }

    @Test
    void jsonOutRefusesUnbalancedNesting() {
        assertThrows(IllegalStateException.class, () -> new JsonOut().beginObject().toString());
        assertThrows(IllegalStateException.class, () -> new JsonOut().beginArray().endObject());
        assertEquals("{\n  \"nan\": null\n}\n", new JsonOut().beginObject().field("nan", Double.NaN).endObject().toString());
    }

    @Test
    void rendersPngAndPdfHeadless(@TempDir Path dir) throws Exception {
        Column<Integer> x = Column.integer("x");
        Column<Double> y = Column.real("y");
        Table t = new Table(Columns.of(x, y));
        t.row().set(x, 1).set(y, 10.0).add();
        t.row().set(x, 2).set(y, 20.0).add();
        Panel line = Panel.lines("a line", "x", "y").series("mq", t.rows(), x, y);
        Panel bars = Panel.bars("bars", "x", "y").series("mq", t.rows(), x, y);
        Path png = dir.resolve("f.png");
        Path pdf = dir.resolve("f.pdf");
        Renderer.render(List.of(line, bars), List.of("a note that is long enough to wrap " + "word ".repeat(80)), png, pdf);
        byte[] p = Files.readAllBytes(png);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(p, 4));
        assertTrue(new String(Files.readAllBytes(pdf), 0, 5, StandardCharsets.US_ASCII).startsWith("%PDF"));
    }

    @Test
    void notesWrapAtTheWidth() {
        List<String> lines = Renderer.wrap(List.of("one two three four five six"), 10);
        assertEquals(List.of("one two", "  three", "  four", "  five six"), lines);
    }
    @Test
    void tickLabelsAreShort() {
        assertEquals("1.5M", Renderer.compact(1_500_000.0));
        assertEquals("32.77k", Renderer.compact(32_768.0));
        assertEquals("8", Renderer.compact(8.0));
        assertEquals("0.25", Renderer.compact(0.25));
        assertEquals("2000", Renderer.compact(2000.0));
    }
}
