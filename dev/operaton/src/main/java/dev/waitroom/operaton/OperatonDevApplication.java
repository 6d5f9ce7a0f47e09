package dev.waitroom.operaton;

import org.operaton.bpm.engine.rest.security.auth.ProcessEngineAuthenticationFilter;
import org.operaton.bpm.engine.rest.security.auth.impl.HttpBasicAuthenticationProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;

import dev.waitroom.enginedev.DevAuth;

/**
 * Operaton 1.0 development engine (the community fork of Camunda 7): REST API only, in-memory
 * H2, Spin JSON and XML. Configured like dev/camunda, with the same environment variables.
 *
 * <p>The REST API is open unless the environment asks otherwise (see {@link DevAuth}):
 * {@code CAMUNDA_DEV_BASIC_AUTH=user:password} creates that user (through the starter's
 * admin-user support) and protects /engine-rest with Operaton's
 * {@link ProcessEngineAuthenticationFilter} (HTTP Basic); {@code CAMUNDA_DEV_BEARER_*} require
 * a valid JWT bearer token instead. Either way tests can check that a worker authenticates.
 * Authorization checks stay off: only authentication is enforced.
 */
@SpringBootApplication
@Import(DevAuth.class)
public class OperatonDevApplication {

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(OperatonDevApplication.class);
    app.setDefaultProperties(DevAuth.defaultProperties("operaton.bpm", System::getenv));
    app.run(args);
  }

  @Bean
  @ConditionalOnProperty(name = DevAuth.BASIC_AUTH_FLAG, havingValue = "true")
  FilterRegistrationBean<ProcessEngineAuthenticationFilter> engineRestBasicAuth(
      @Value("${spring.jersey.application-path:engine-rest}") String restPath) {
    String path = "/" + restPath.replaceAll("^/+|/+$", "");
    FilterRegistrationBean<ProcessEngineAuthenticationFilter> reg =
        new FilterRegistrationBean<>(new ProcessEngineAuthenticationFilter());
    reg.setName("operaton-engine-rest-basic-auth");
    reg.addInitParameter(
        ProcessEngineAuthenticationFilter.AUTHENTICATION_PROVIDER_PARAM,
        HttpBasicAuthenticationProvider.class.getName());
    reg.addUrlPatterns(path + "/*");
    return reg;
  }
}
