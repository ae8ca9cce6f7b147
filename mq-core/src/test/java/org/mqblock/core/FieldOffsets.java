package org.mqblock.core;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Field offsets of the running JVM's object layout, for tests that prove a padding class chain
 * does its job. Offsets come from {@code sun.misc.Unsafe.objectFieldOffset}, reached reflectively
 * (tests only).
 */
public final class FieldOffsets {

    private FieldOffsets() {}

    /** Every instance field of {@code type} and its superclasses, by name (pad fields qualified by class). */
    public static Map<String, Long> of(Class<?> type) throws Exception {
        Object unsafe = unsafe();
        Method objectFieldOffset = unsafe.getClass().getMethod("objectFieldOffset", Field.class);
        Map<String, Long> offsets = new TreeMap<>();
        for (Class<?> c = type; c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())) {
                    continue;
                }
                String name = f.getName().matches("[pq]\\d{2,3}") ? c.getSimpleName() + "." + f.getName() : f.getName();
                offsets.put(name, (Long) objectFieldOffset.invoke(unsafe, f));
            }
        }
        return offsets;
    }

    /** The offset of {@code name}, failing clearly if there is no such field. */
    public static long offset(Map<String, Long> offsets, String name) {
        Long o = offsets.get(name);
        if (o == null) {
            throw new AssertionError("no field " + name + " in " + offsets.keySet());
        }
        return o;
    }

    /** The layout without pad fields, in offset order, for assertion messages. */
    public static String describe(Map<String, Long> offsets) {
        List<Map.Entry<String, Long>> entries = new ArrayList<>(offsets.entrySet());
        entries.sort(Map.Entry.comparingByValue());
        StringBuilder b = new StringBuilder("layout:");
        for (Map.Entry<String, Long> e : entries) {
            if (!e.getKey().matches(".*\\.[pq]\\d{2,3}")) {
                b.append(' ').append(e.getKey()).append('@').append(e.getValue());
            }
        }
        return b.toString();
    }

    public static Object unsafe() throws Exception {
        Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
        Field theUnsafe = unsafeClass.getDeclaredField("theUnsafe");
        theUnsafe.setAccessible(true);
        return theUnsafe.get(null);
    }
}
