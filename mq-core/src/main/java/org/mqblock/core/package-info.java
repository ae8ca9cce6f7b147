/** mq-core. */
package org.mqblock.core;
