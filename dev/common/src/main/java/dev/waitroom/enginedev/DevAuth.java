package dev.waitroom.enginedev;

import java.util.HashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;

/**
 * How a development engine protects its REST API, decided from the environment at start-up:
 * nothing (the default), HTTP Basic ({@code CAMUNDA_DEV_BASIC_AUTH=user:password}) or bearer
 * tokens ({@code CAMUNDA_DEV_BEARER_*}, see {@link BearerTokenFilter}); never both. Shared by
 * the Camunda and Operaton engines, which differ only in their property prefix and in the
 * class of the engine's own Basic filter (registered by each application).
 */
@Configuration(proxyBeanMethods = false)
public class DevAuth {

  /** "user:password": create that user and require HTTP Basic on the REST API. */
  public static final String BASIC_AUTH_ENV = "CAMUNDA_DEV_BASIC_AUTH";
  // Not "camunda-dev.basic-auth": Spring's relaxed binding would read CAMUNDA_DEV_BASIC_AUTH
  // itself (user:password) as that property, overriding this flag.
  /** Property set when Basic is on; the application registers the engine's filter on it. */
  public static final String BASIC_AUTH_FLAG = "camunda-dev.rest-basic-auth-enabled";
  /** Property set when bearer tokens are required. */
  public static final String BEARER_AUTH_FLAG = "camunda-dev.rest-bearer-auth-enabled";

  /**
   * The default properties for the environment env: the admin user under bpmPrefix ({@code
   * camunda.bpm} or {@code operaton.bpm}) and the flags above. Throws on a malformed or
   * contradictory setting, naming the variable.
   */
  public static Map<String, Object> defaultProperties(String bpmPrefix, UnaryOperator<String> env) {
    Map<String, Object> props = new HashMap<>();
    String basic = env.apply(BASIC_AUTH_ENV);
    BearerTokenFilter.Settings bearer = BearerTokenFilter.Settings.fromEnv(env);
    bearer.validate();
    boolean basicOn = basic != null && !basic.isEmpty();
    if (basicOn && bearer.enabled()) {
      throw new IllegalArgumentException(BASIC_AUTH_ENV + " and " + BearerTokenFilter.ENV_HS256_SECRET
          + "/" + BearerTokenFilter.ENV_JWKS_URI + " exclude each other: choose HTTP Basic or bearer tokens");
    }
    if (basicOn) {
      int colon = basic.indexOf(':');
      if (colon <= 0 || colon == basic.length() - 1) {
        throw new IllegalArgumentException(
            BASIC_AUTH_ENV + " must be 'user:password' with both parts non-empty");
      }
      props.put(bpmPrefix + ".admin-user.id", basic.substring(0, colon));
      props.put(bpmPrefix + ".admin-user.password", basic.substring(colon + 1));
      props.put(BASIC_AUTH_FLAG, "true");
    }
    if (bearer.enabled()) {
      props.put(BEARER_AUTH_FLAG, "true");
    }
    return props;
  }

  /** Registers {@link BearerTokenFilter} in front of the REST API when tokens are required. */
  @Bean
  @ConditionalOnProperty(name = BEARER_AUTH_FLAG, havingValue = "true")
  FilterRegistrationBean<BearerTokenFilter> engineRestBearerAuth(
      @Value("${spring.jersey.application-path:engine-rest}") String restPath) {
    BearerTokenFilter filter =
        new BearerTokenFilter(BearerTokenFilter.Settings.fromEnv(System::getenv), restPath);
    FilterRegistrationBean<BearerTokenFilter> reg = new FilterRegistrationBean<>(filter);
    reg.setName("engine-rest-bearer-auth");
    reg.setOrder(Ordered.HIGHEST_PRECEDENCE);
    reg.addUrlPatterns("/" + restPath.replaceAll("^/+|/+$", "") + "/*");
    return reg;
  }
}
